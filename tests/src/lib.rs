//! Interoperability tests of rhizo against real libp2p implementations (rust-libp2p 0.57) over
//! loopback TCP. The tests live in `tests/`; this library is empty.
