//! Everything `unsafe` in the firmware, in one place: memory-mapped registers of the
//! mps2-an386 board, its interrupt table, NVIC unmasking and the executor's pender hook.
//!
//! Board-specific: a real board replaces the addresses, the IRQ number and the table here
//! (and `memory.x`); the rest of the firmware only sees the safe functions below.
#![allow(unsafe_code)]

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m::interrupt::InterruptNumber;
use cortex_m_rt::exception;

/// The LAN9118 Ethernet controller's register block.
pub const LAN9118_BASE: usize = 0x4020_0000;
/// CMSDK APB UART0 (QEMU connects it to the serial console).
pub const UART0_BASE: usize = 0x4000_4000;
/// The LAN9118's interrupt line on the NVIC.
pub const LAN9118_IRQ: u16 = 13;

/// Reads a 32-bit device register.
pub fn read_reg(base: usize, offset: usize) -> u32 {
    debug_assert!(offset < 0x100 && offset.is_multiple_of(4));
    // SAFETY: callers pass one of the device bases above and an aligned offset inside its
    // 256-byte register block: mapped device memory on this board, valid for 32-bit volatile
    // reads at any time (reading a FIFO port pops it, which the caller intends).
    unsafe { ptr::read_volatile((base + offset) as *const u32) }
}

/// Writes a 32-bit device register.
pub fn write_reg(base: usize, offset: usize, value: u32) {
    debug_assert!(offset < 0x100 && offset.is_multiple_of(4));
    // SAFETY: as in `read_reg`: an aligned register of a mapped device block; device registers
    // alias no Rust memory.
    unsafe { ptr::write_volatile((base + offset) as *mut u32, value) }
}

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: `number` returns a valid device interrupt number of this board (< 32 here).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Lets the LAN9118's interrupt through the NVIC.
pub fn unmask_lan9118_irq() {
    // SAFETY: unmasking can break a critical section only if code relies on this interrupt
    // staying masked; the handler touches nothing but the driver's atomics and waker cell,
    // which are interrupt-safe.
    unsafe { cortex_m::peripheral::NVIC::unmask(Irq(LAN9118_IRQ)) }
}

/// Polls the executor: tasks, then sleep with WFI until an interrupt when nothing is pending.
///
/// # Q&A
/// *Why not the stock thread executor?* It sleeps with WFE, which QEMU treats as a no-op: an
/// idle node would spin a host core at 100%. WFI sleeps until an interrupt (SysTick at 1 kHz,
/// the Ethernet controller) in QEMU and on hardware alike.
pub fn run_executor(executor: &'static embassy_executor::raw::Executor) -> ! {
    loop {
        // SAFETY: `poll` must not be called reentrantly or from another thread: this loop is
        // the only caller, in thread mode, and it never returns.
        unsafe { executor.poll() };
        cortex_m::interrupt::disable();
        // A wake-up between the poll and here set the flag: poll again instead of sleeping.
        // With interrupts masked, a pending interrupt still ends WFI, so none is missed.
        if !WORK.swap(false, Ordering::AcqRel) {
            cortex_m::asm::wfi();
        }
        // SAFETY: interrupts were enabled before `disable` above (this is not inside a
        // critical section), so enabling them again restores that state.
        unsafe { cortex_m::interrupt::enable() };
    }
}

/// A task was woken since the last poll.
static WORK: AtomicBool = AtomicBool::new(true);

// SAFETY: the executor calls `__pender` (an extern "Rust" symbol it declares) whenever a task
// is woken, from thread mode or an interrupt; this one only sets an atomic flag.
#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WORK.store(true, Ordering::Release);
}

/// One entry of the device interrupt table.
#[derive(Clone, Copy)]
#[repr(C)]
union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

unsafe extern "C" fn lan9118_interrupt() {
    crate::lan9118::on_interrupt();
}

unsafe extern "C" fn unused_interrupt() {
    // Never unmasked; nothing to do if it somehow fires.
}

/// The device interrupts of the mps2-an386 (32 lines); only the LAN9118's is used.
// SAFETY: cortex-m-rt's linker script places `.vector_table.interrupts` right after the 16
// exception vectors, which is where the NVIC looks for IRQ handlers; each entry is a valid
// handler address.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
static __INTERRUPTS: [Vector; 32] = {
    let mut table = [Vector {
        handler: unused_interrupt,
    }; 32];
    table[LAN9118_IRQ as usize] = Vector {
        handler: lan9118_interrupt,
    };
    table
};

#[exception]
fn SysTick() {
    crate::time::on_tick();
}

#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    crate::log::write_str("hard fault\n");
    loop {
        cortex_m::asm::wfi();
    }
}

/// The pattern [`paint_stack`] fills the free stack with.
const STACK_PAINT: u32 = 0xc0de_5a5a;
/// How far below the boot-time stack pointer the stack is painted (and measured).
const STACK_PAINT_LEN: usize = 256 * 1024;

unsafe extern "C" {
    /// The stack's top (cortex-m-rt: the end of RAM).
    static _stack_start: u32;
}

fn stack_top() -> usize {
    // Only the address of the linker symbol is taken, never its value.
    ptr::addr_of!(_stack_start) as usize
}

/// Paints [`STACK_PAINT_LEN`] bytes of the free stack below the current stack pointer, so that
/// [`stack_used`] can tell how deep the stack has been. Call once, early in `main`.
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let bottom = stack_top() - STACK_PAINT_LEN;
    // Leave the current frame (and a margin for this function's own) alone.
    let mut addr = bottom;
    while addr < sp - 256 {
        // SAFETY: [bottom, sp - 256) is RAM below the live stack (memory.x gives 4 MiB of RAM
        // and static data ends far below `bottom`, which `stack_used` relies on too); nothing
        // lives there yet, so overwriting it is unobservable.
        unsafe { ptr::write_volatile(addr as *mut u32, STACK_PAINT) };
        addr += 4;
    }
}

/// The deepest the stack has been since [`paint_stack`], in bytes (a lower bound: a frame may
/// have skipped words without writing them).
pub fn stack_used() -> usize {
    let bottom = stack_top() - STACK_PAINT_LEN;
    let mut addr = bottom;
    // SAFETY: reads of the painted region, aligned words of RAM (see `paint_stack`).
    while addr < stack_top() && unsafe { ptr::read_volatile(addr as *const u32) } == STACK_PAINT {
        addr += 4;
    }
    stack_top() - addr
}

/// The semihosting command line (`SYS_GET_CMDLINE`): under QEMU, the `arg=` values of
/// `-semihosting-config` joined by spaces (or the kernel's file name without them), written
/// into `buf`. `None` when the debugger refuses or the text is not UTF-8.
///
/// Semihosting must be enabled (QEMU: `-semihosting-config enable=on`): without a debugger or
/// emulator to catch it, the `BKPT` hard-faults. A real board without a probe attached reads
/// its settings from flash instead.
pub fn semihosting_cmdline(buf: &mut [u8]) -> Option<&str> {
    const SYS_GET_CMDLINE: usize = 0x15;
    // The parameter block: the buffer's address and length; the call sets the length to the
    // text's (without its terminating zero).
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    let status: usize;
    // SAFETY: the semihosting ABI: r0 the operation, r1 the parameter block, which lives on
    // this stack for the call; the host writes at most `buf.len()` bytes into `buf` (exclusively
    // borrowed here) and the text's length into the block. `BKPT 0xAB` is the call itself.
    unsafe {
        core::arch::asm!(
            "bkpt #0xab",
            inout("r0") SYS_GET_CMDLINE => status,
            in("r1") block.as_mut_ptr(),
            options(nostack)
        );
    }
    let len = block[1];
    if status != 0 || len > buf.len() {
        return None;
    }
    core::str::from_utf8(&buf[..len]).ok()
}
