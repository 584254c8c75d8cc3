//! multistream-select on one byte stream, as either side.

use crate::multistream::{MultistreamDialer, MultistreamError, MultistreamListener, Outcome};
use crate::wire::BufferTooSmall;

/// A multistream-select negotiator of either role.
#[derive(Clone, Debug)]
pub(crate) enum Negotiator {
    Dialer(MultistreamDialer),
    Listener(MultistreamListener),
}

impl Negotiator {
    /// A dialer proposing the one protocol `protocols[0]` (valid: checked by the caller).
    pub(crate) fn dialer(protocols: &[&str], lazy: bool) -> Self {
        Negotiator::Dialer(
            MultistreamDialer::new(protocols, lazy).expect("the caller passes valid ids"),
        )
    }

    pub(crate) fn listener() -> Self {
        Negotiator::Listener(MultistreamListener::new())
    }

    pub(crate) fn wants_input(&self) -> bool {
        match self {
            Negotiator::Dialer(d) => d.wants_input(),
            Negotiator::Listener(l) => l.wants_input(),
        }
    }

    pub(crate) fn has_output(&self) -> bool {
        match self {
            Negotiator::Dialer(d) => d.has_output(),
            Negotiator::Listener(l) => l.has_output(),
        }
    }

    /// Whether it has nothing left to send or read.
    pub(crate) fn is_finished(&self) -> bool {
        !self.wants_input() && !self.has_output()
    }

    pub(crate) fn outcome(&self) -> Option<Outcome> {
        match self {
            Negotiator::Dialer(d) => d.outcome(),
            Negotiator::Listener(l) => l.outcome(),
        }
    }

    pub(crate) fn handle_input(
        &mut self,
        input: &[u8],
        protocols: &[&str],
    ) -> Result<usize, MultistreamError> {
        match self {
            Negotiator::Dialer(d) => d.handle_input(input, protocols),
            Negotiator::Listener(l) => l.handle_input(input, protocols),
        }
    }

    pub(crate) fn poll_transmit(
        &mut self,
        out: &mut [u8],
        protocols: &[&str],
    ) -> Result<Option<usize>, BufferTooSmall> {
        match self {
            Negotiator::Dialer(d) => d.poll_transmit(out, protocols),
            Negotiator::Listener(l) => l.poll_transmit(out, protocols),
        }
    }
}
