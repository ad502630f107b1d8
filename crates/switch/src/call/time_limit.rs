//! The time an operator's authorization service granted a call: it counts
//! from the answer; when it is up, every party still on hears that the
//! time is up and goodbye, then the call ends ("Time limit reached").

use super::{Call, CallCtx, CallEvent, Phase};
use crate::output::MediaCommand;
use crate::prompts::Prompt;
use std::time::{Duration, Instant};

/// Where a call's time limit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeLimit {
    /// Granted; the clock starts at the answer.
    Granted(Duration),
    /// Counting: the time is up at `ends`.
    Running {
        /// When the time is up.
        ends: Instant,
    },
    /// Up: the parties hear so, then the call ends.
    Reached,
}

/// How long a call in a phase the time limit cannot interrupt (ringing
/// a comeback, transferring) waits before the limit is looked at again.
const RETRY: Duration = Duration::from_secs(5);

/// The prompts of a call whose time is up.
pub const TIME_UP: [Prompt; 2] = [Prompt::TimeUp, Prompt::Goodbye];

impl Call {
    /// Starts the clock of a granted limit (at the answer).
    pub fn start_time_limit(&mut self, now: Instant) {
        if let Some(TimeLimit::Granted(d)) = self.limit {
            self.limit = Some(TimeLimit::Running { ends: now + d });
        }
    }

    /// When the limit is due, if it is counting.
    pub fn time_limit_deadline(&self) -> Option<Instant> {
        match self.limit {
            Some(TimeLimit::Running { ends }) => Some(ends),
            _ => None,
        }
    }

    /// The limit is due: the parties still on (talking, holding or
    /// parked) hear that the time is up, and the call announces until the
    /// prompts end it. In another phase, it is looked at again shortly.
    pub fn handle_time_limit(&mut self, ctx: &mut CallCtx) {
        let Some(TimeLimit::Running { ends }) = self.limit else {
            return;
        };
        if ctx.now.mono < ends {
            return;
        }
        if !matches!(
            self.phase,
            Phase::Answered | Phase::Established | Phase::Parked(_)
        ) {
            self.limit = Some(TimeLimit::Running {
                ends: ctx.now.mono + RETRY,
            });
            return;
        }
        self.limit = Some(TimeLimit::Reached);
        self.events.push(CallEvent::TimeLimitReached);
        self.record.status = 200;
        self.record.cause = "Time limit reached".into();
        for leg in [&self.a, &self.b] {
            if leg.port != 0 && leg.dialog.is_some() {
                ctx.media(MediaCommand::Play(leg.port, TIME_UP.to_vec()));
            }
        }
        self.phase = Phase::Announcing;
        tracing::info!("time limit reached: the parties hear goodbye");
    }

    /// Whether its time ran out (its record says so, however it ends).
    pub fn time_is_up(&self) -> bool {
        self.limit == Some(TimeLimit::Reached)
    }
}
