//! An embassy-net driver for the SMSC LAN9118 Ethernet controller (32-bit PIO, no DMA).
//!
//! Receive is interrupt-driven: the controller raises its IRQ when its RX status FIFO holds
//! more entries than the level in FIFO_INT (0, so: one frame); the interrupt handler clears
//! the status and wakes the network task, which then drains every waiting frame. Transmit
//! writes a frame straight into the TX data FIFO (command A, command B, the data words); TX
//! statuses are allowed to overrun (TX_CFG.TXSAO), so nothing has to read them.
//!
//! Board-specific: the register base and IRQ line (`board.rs`). The register layout is the
//! chip's, the same on every board with a LAN9118 (or LAN9220/9221) on a 32-bit bus.
//!
//! # Q&A
//! *Why hand-written?* No LAN9118 driver exists on crates.io for embassy-net (or at all).

use crate::board::{LAN9118_BASE, read_reg, write_reg};
use core::task::Context;
use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const FIFO_INT: usize = 0x68;
const RX_CFG: usize = 0x6c;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const HW_CFG_SRST: u32 = 1;
const PMT_CTRL_READY: u32 = 1;
/// IRQ_EN | IRQ_POL (active high) | IRQ_TYPE (push-pull).
const IRQ_CFG_VALUE: u32 = 0x111;
/// RX status FIFO level interrupt.
const INT_RSFL: u32 = 1 << 3;
const TX_CFG_TX_ON: u32 = 1 << 1;
/// TX status FIFO may overrun: nobody reads the statuses.
const TX_CFG_TXSAO: u32 = 1 << 2;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CSR_READ: u32 = 1 << 30;
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const MAC_CR_FDPX: u32 = 1 << 20;
/// Accept broadcast frames: the BCAST bit *disables* them when set, so it stays clear.
const MAC_CR_VALUE: u32 = MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX;
/// RX status: error summary.
const RX_STATUS_ERROR: u32 = 1 << 15;
/// TX command A: first and last segment of the frame.
const TX_CMD_A_FIRST_LAST: u32 = (1 << 13) | (1 << 12);

/// The largest Ethernet frame handled (without the CRC).
pub const MTU: usize = 1514;

static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Why the controller could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321: no LAN9118 (or the bus is not 32-bit).
    NotFound(u32),
    /// The chip did not leave reset.
    ResetTimeout,
}

/// The controller, after [`Lan9118::init`].
#[derive(Debug)]
pub struct Lan9118 {
    mac: [u8; 6],
    rx: [u8; MTU + 4],
}

impl Lan9118 {
    /// Resets the chip, reads its MAC address, enables the MAC and the RX status interrupt.
    pub fn init() -> Result<Self, InitError> {
        let test = read_reg(LAN9118_BASE, BYTE_TEST);
        if test != BYTE_TEST_VALUE {
            return Err(InitError::NotFound(test));
        }
        write_reg(LAN9118_BASE, HW_CFG, HW_CFG_SRST);
        let mut ready = false;
        for _ in 0..100_000 {
            if read_reg(LAN9118_BASE, HW_CFG) & HW_CFG_SRST == 0
                && read_reg(LAN9118_BASE, PMT_CTRL) & PMT_CTRL_READY != 0
            {
                ready = true;
                break;
            }
        }
        if !ready {
            return Err(InitError::ResetTimeout);
        }
        let low = mac_read(MAC_ADDRL).to_le_bytes();
        let high = mac_read(MAC_ADDRH).to_le_bytes();
        let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];
        mac_write(MAC_CR, MAC_CR_VALUE);
        write_reg(LAN9118_BASE, TX_CFG, TX_CFG_TX_ON | TX_CFG_TXSAO);
        write_reg(LAN9118_BASE, RX_CFG, 0);
        // Interrupt as soon as the RX status FIFO holds one entry.
        write_reg(LAN9118_BASE, FIFO_INT, 0x4800_0000);
        write_reg(LAN9118_BASE, INT_STS, u32::MAX);
        write_reg(LAN9118_BASE, INT_EN, INT_RSFL);
        write_reg(LAN9118_BASE, IRQ_CFG, IRQ_CFG_VALUE);
        Ok(Lan9118 {
            mac,
            rx: [0; MTU + 4],
        })
    }

    /// The chip's ID_REV register (0x01180001 for a LAN9118).
    pub fn id_rev(&self) -> u32 {
        read_reg(LAN9118_BASE, ID_REV)
    }

    /// The MAC address the chip came up with.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Pops one received frame into `self.rx`; its length, or `None` when none is waiting.
    fn pop_frame(&mut self) -> Option<usize> {
        loop {
            let waiting = (read_reg(LAN9118_BASE, RX_FIFO_INF) >> 16) & 0xff;
            if waiting == 0 {
                return None;
            }
            let status = read_reg(LAN9118_BASE, RX_STATUS_FIFO);
            let len_with_crc = ((status >> 16) & 0x3fff) as usize;
            let words = len_with_crc.div_ceil(4);
            let good = status & RX_STATUS_ERROR == 0 && len_with_crc <= self.rx.len();
            for i in 0..words {
                let word = read_reg(LAN9118_BASE, RX_DATA_FIFO).to_le_bytes();
                if good {
                    let at = 4 * i;
                    let n = 4.min(self.rx.len() - at);
                    self.rx[at..at + n].copy_from_slice(&word[..n]);
                }
            }
            if good && len_with_crc > 4 {
                return Some(len_with_crc - 4);
            }
        }
    }
}

fn mac_wait() {
    for _ in 0..10_000 {
        if read_reg(LAN9118_BASE, MAC_CSR_CMD) & MAC_CSR_BUSY == 0 {
            return;
        }
    }
}

fn mac_read(index: u32) -> u32 {
    mac_wait();
    write_reg(
        LAN9118_BASE,
        MAC_CSR_CMD,
        MAC_CSR_BUSY | MAC_CSR_READ | index,
    );
    mac_wait();
    read_reg(LAN9118_BASE, MAC_CSR_DATA)
}

fn mac_write(index: u32, value: u32) {
    mac_wait();
    write_reg(LAN9118_BASE, MAC_CSR_DATA, value);
    write_reg(LAN9118_BASE, MAC_CSR_CMD, MAC_CSR_BUSY | index);
    mac_wait();
}

/// The interrupt handler: clear the RX status interrupt, wake the network task.
pub fn on_interrupt() {
    write_reg(LAN9118_BASE, INT_STS, INT_RSFL);
    RX_WAKER.wake();
}

/// Writes one frame into the TX data FIFO.
fn send_frame(frame: &[u8]) {
    let len = frame.len() as u32;
    write_reg(LAN9118_BASE, TX_DATA_FIFO, TX_CMD_A_FIRST_LAST | len);
    // Command B: the tag (the length, for debugging) and the frame length.
    write_reg(LAN9118_BASE, TX_DATA_FIFO, (len << 16) | len);
    for chunk in frame.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        write_reg(LAN9118_BASE, TX_DATA_FIFO, u32::from_le_bytes(word));
    }
}

/// Free bytes in the TX data FIFO.
fn tx_free() -> usize {
    (read_reg(LAN9118_BASE, TX_FIFO_INF) & 0xffff) as usize
}

/// A received frame, ready to be read.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame in the TX FIFO.
#[derive(Debug)]
pub struct TxToken<'a> {
    _driver: core::marker::PhantomData<&'a ()>,
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; MTU];
        let len = len.min(MTU);
        let result = f(&mut buf[..len]);
        send_frame(&buf[..len]);
        result
    }
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Register first: a frame arriving after the check below still wakes the task.
        RX_WAKER.register(cx.waker());
        let len = self.pop_frame()?;
        Some((
            RxToken {
                frame: &mut self.rx[..len],
            },
            TxToken {
                _driver: core::marker::PhantomData,
            },
        ))
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<TxToken<'_>> {
        if tx_free() < MTU + 8 {
            // The FIFO drains onto the wire within microseconds: ask to be polled again.
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken {
            _driver: core::marker::PhantomData,
        })
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
