//! Logging over the board's UART0 (QEMU prints it on its console with `-nographic`).
//!
//! Board-specific: the CMSDK APB UART of the mps2 boards. Blocking, one byte at a time; fine for
//! the few lines the node prints.

use crate::board::{UART0_BASE, read_reg, write_reg};

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1;
const CTRL_TX_ENABLE: u32 = 1;

/// Enables the transmitter.
pub fn init() {
    write_reg(UART0_BASE, BAUDDIV, 16);
    write_reg(UART0_BASE, CTRL, CTRL_TX_ENABLE);
}

/// Writes `s` to the UART.
pub fn write_str(s: &str) {
    for b in s.bytes() {
        while read_reg(UART0_BASE, STATE) & STATE_TX_FULL != 0 {}
        write_reg(UART0_BASE, DATA, u32::from(b));
    }
}

/// A `core::fmt::Write` over the UART.
#[derive(Debug)]
pub struct Uart;

impl core::fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// Prints a line on the UART, `format!`-style.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::log::Uart, $($arg)*);
    }};
}
