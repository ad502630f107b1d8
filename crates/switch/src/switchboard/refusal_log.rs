//! How often a kind of refusal is logged: the first at once, then at most
//! one summary per [`LOG_EVERY`], so a flood does not turn into a flood of
//! log lines.

use std::time::{Duration, Instant};

/// Least time between two log lines of one kind of refusal.
pub(super) const LOG_EVERY: Duration = Duration::from_secs(10);

/// When a kind of refusal was last logged, and its running count then.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    last: Option<(Instant, u64)>,
}

impl RefusalLog {
    /// With `total` refusals so far, at `now`: the number refused since
    /// the last line if a line is due (and it is then counted as written).
    pub(super) fn due(&mut self, now: Instant, total: u64) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|(at, _)| now.saturating_duration_since(at) >= LOG_EVERY);
        if !due {
            return None;
        }
        let since = self.last.map_or(1, |(_, n)| total - n);
        self.last = Some((now, total));
        Some(since)
    }
}
