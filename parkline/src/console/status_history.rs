//! The status page's history: the key figures sampled every
//! [`INTERVAL`], the last [`KEPT`] of them (ten minutes), for sparklines.
//! Rates are the difference of two samples' counters.

use crate::event::{Event, Query, Status};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the figures are sampled.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept.
pub const KEPT: usize = 120;

/// The figures at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Live calls.
    pub calls: usize,
    /// Parked calls.
    pub parked: usize,
    /// Live registrations.
    pub registrations: usize,
    /// Live transactions, server and client.
    pub transactions: usize,
    /// SIP requests received per second since the sample before.
    pub requests_per_s: f64,
    /// Failed authentications per second since the sample before.
    pub auth_failures_per_s: f64,
}

/// The samples, oldest first, and the counters of the last one.
#[derive(Default)]
pub struct History {
    samples: VecDeque<Sample>,
    last_counters: Option<(u64, u64)>,
}

impl History {
    /// Adds the figures of `status`, taken [`INTERVAL`] after the last.
    pub fn add(&mut self, status: &Status) {
        let counters = (status.stats.requests, status.stats.auth_failures);
        let per_s =
            |now: u64, before: u64| now.saturating_sub(before) as f64 / INTERVAL.as_secs_f64();
        let (requests_per_s, auth_failures_per_s) = match self.last_counters {
            Some((r, a)) => (per_s(counters.0, r), per_s(counters.1, a)),
            None => (0.0, 0.0),
        };
        self.last_counters = Some(counters);
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            calls: status.calls,
            parked: status.parked,
            registrations: status.bindings,
            transactions: status.server_transactions + status.client_transactions,
            requests_per_s,
            auth_failures_per_s,
        });
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }
}

/// Samples the core's status into `history` until the core is gone.
pub async fn sample(events: mpsc::Sender<Event>, history: Arc<Mutex<History>>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let Ok(status) = crate::http::ask(&events, Query::Status).await else {
            return;
        };
        history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_samples_with_rates() {
        let mut history = History::default();
        let mut status = Status::default();
        for i in 0..(KEPT as u64 + 10) {
            status.stats.requests = i * 50;
            status.calls = i as usize;
            history.add(&status);
        }
        let samples = history.samples();
        assert_eq!(samples.len(), KEPT);
        assert_eq!(samples.last().unwrap().calls, KEPT + 9);
        assert_eq!(samples.last().unwrap().requests_per_s, 10.0);
    }
}
