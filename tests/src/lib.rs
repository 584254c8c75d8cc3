//! Interoperability tests of rhizo against real libp2p implementations (rust-libp2p 0.57, and
//! js-libp2p 3 run by node from `js/`) over loopback TCP. The tests live in `tests/`; this
//! library is empty.
