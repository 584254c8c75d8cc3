//! The embassy-time driver: SysTick at 1 kHz, one tick per millisecond, and one timer queue.
//!
//! Board-specific: the core clock (25 MHz on the mps2-an386). Any Cortex-M has SysTick, so only
//! [`CORE_CLOCK_HZ`] changes on another board (or a low-power board uses an RTC instead).

use core::cell::{Cell, RefCell};
use core::task::Waker;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The core clock SysTick counts.
pub const CORE_CLOCK_HZ: u32 = 25_000_000;
/// Ticks per second (matches embassy-time's `tick-hz-1_000` feature).
const TICK_HZ: u32 = 1_000;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    /// The tick at which the queue next needs attention (`u64::MAX`: never).
    next: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    next: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                self.next.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

/// Starts SysTick at [`TICK_HZ`] from the core clock.
pub fn init(mut syst: cortex_m::peripheral::SYST) {
    use cortex_m::peripheral::syst::SystClkSource;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The SysTick exception: one more tick, and the expired timers' wakers.
pub fn on_tick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        let next = DRIVER.next.borrow(cs);
        if now >= next.get() {
            let mut queue = DRIVER.queue.borrow(cs).borrow_mut();
            next.set(queue.next_expiration(now));
        }
    });
}
