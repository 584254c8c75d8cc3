//! Interoperability tests of rhizo against real libp2p implementations (rust-libp2p 0.57, and
//! js-libp2p 3 run by node from `js/`), and the scenarios every driver passes (`rhizo-tokio`,
//! `rhizo-async-io`, and the two together), over loopback TCP. The tests live in `tests/`;
//! this library is empty.
