//! Park alerts: text messages about parked calls, when the tenant has
//! `park_alerts`. The extension a call is parked under learns who waits for
//! it and the number that picks it up; the parker learns how its parked
//! call ended — picked up by whom, given up after how long, or coming back.
//! Each comes from the position's retrieval number, so replying with a
//! call picks the call up.

use super::message::Text;
use super::Switch;
use crate::call::Identity;
use crate::lot::{Parked, Position};
use crate::time::Now;
use std::time::Duration;

/// What became of a parked call, for its parker.
pub(super) enum ParkEnd<'a> {
    /// An extension picked it up.
    Retrieved {
        /// The extension.
        by: &'a str,
    },
    /// The parked party hung up.
    Abandoned,
    /// Nobody picked it up in time: it rings the parker.
    ComingBack,
}

impl Switch {
    /// Tells the extension a call is parked under (not the parker itself).
    pub(super) fn alert_parked(&mut self, now: Now, tenant: &str, parked: &Parked) {
        let Position::Extension(under) = &parked.position else {
            return;
        };
        if *under == parked.parker || !self.park_alerts(tenant) {
            return;
        }
        let party = self.parked_party(parked);
        let body = format!(
            "{} is parked for you by {}. Dial {} to pick up.",
            party.shown(),
            parked.parker,
            parked.retrieval
        );
        self.alert(now, tenant, under, parked, body);
    }

    /// Tells the parker what became of its parked call (the parked
    /// `party`), `waited` after it was parked; not when the parker picked
    /// it up itself.
    pub(super) fn alert_parker(
        &mut self,
        now: Now,
        (tenant, parked): (&str, &Parked),
        party: &Identity,
        end: ParkEnd,
        waited: Duration,
    ) {
        if !self.park_alerts(tenant) {
            return;
        }
        let party = party.shown();
        let (s, at) = (waited.as_secs(), &parked.retrieval);
        let body = match end {
            ParkEnd::Retrieved { by } if by == parked.parker => return,
            ParkEnd::Retrieved { by } => {
                format!("Your parked call from {party} ({at}) was picked up by {by} after {s} s.")
            }
            ParkEnd::Abandoned => {
                format!("{party} gave up after {s} s parked at {at}.")
            }
            ParkEnd::ComingBack => {
                format!("{party} parked at {at} was not picked up in {s} s and comes back to you.")
            }
        };
        let parker = parked.parker.clone();
        self.alert(now, tenant, &parker, parked, body);
    }

    fn alert(&mut self, now: Now, tenant: &str, to: &str, parked: &Parked, body: String) {
        let from = Identity::new(
            format!("Park {}", parked.position.label()),
            parked.retrieval.clone(),
        );
        self.send_text(
            now,
            Text {
                tenant,
                to,
                from,
                content_type: "text/plain;charset=UTF-8",
                body: body.into(),
            },
        );
    }

    fn park_alerts(&self, tenant: &str) -> bool {
        self.dir.tenant(tenant).is_some_and(|t| t.park_alerts)
    }

    fn parked_party(&self, parked: &Parked) -> Identity {
        self.calls
            .calls
            .get(&parked.call)
            .map(|c| c.leg(parked.side).identity.clone())
            .unwrap_or_default()
    }
}
