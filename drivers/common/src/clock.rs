//! The clock and OS randomness: the only two things of the environment the core asks for.

use rhizo_core::time::Instant;

/// Converts between the OS monotonic clock and the core's microsecond [`Instant`]s.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current time as the core counts it.
    pub fn now(&self) -> Instant {
        let micros = self.origin.elapsed().as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The OS instant of a core deadline (a runtime's timer takes it as is or converts it).
    pub fn to_std(self, at: Instant) -> std::time::Instant {
        let offset = std::time::Duration::from_micros(at.as_micros());
        // A deadline beyond what the OS clock can hold is "never": a year from now.
        self.origin.checked_add(offset).unwrap_or_else(|| {
            std::time::Instant::now() + std::time::Duration::from_secs(31_536_000)
        })
    }
}

/// 32 bytes from the OS random source.
///
/// # Q&A
/// *Why is a failure of the OS random source a panic?* Without randomness no handshake can be
/// made safely (reused ephemeral keys break Noise), and `getrandom` only fails on a broken OS.
pub fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .expect("the OS random source works (getrandom fails only on broken systems)");
    bytes
}
