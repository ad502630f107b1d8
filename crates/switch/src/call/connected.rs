//! Connected-line identity (RFC 4916 style): when a party is connected to
//! someone new — its parked call retrieved, its comeback answered, its
//! call transferred — its phone is told who it talks to now, in an UPDATE
//! without SDP carrying `P-Asserted-Identity`, so a client picked up by 444
//! no longer shows the number that parked it. Parties that did not name
//! UPDATE in their `Allow` are not sent one (a re-INVITE would renegotiate
//! media for a display change).

use super::{other, Call, CallCtx, Side};
use sip::{Method, Name};

impl Call {
    /// Tells the party on `side` who is on the other leg now, its identity
    /// addressed in `domain`.
    pub fn tell_connected(&mut self, ctx: &mut CallCtx, side: Side, domain: &str) {
        let who = self.leg(other(side)).identity.clone();
        if who.number.is_empty() {
            return;
        }
        let leg = self.leg_mut(side);
        if !leg.allows_update {
            return;
        }
        let peer = leg.peer;
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let mut update = ctx.request(dialog, Method::Update, peer);
        update
            .headers
            .push(Name::PAssertedIdentity, who.name_addr(domain));
        ctx.send(update, peer);
    }
}
