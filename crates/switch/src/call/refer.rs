//! The progress of a REFER the call accepted (RFC 3515 §2.4.5): NOTIFY
//! with a `message/sipfrag` body in the referrer's dialog.

use super::{Call, CallCtx, Side};
use sip::{Method, Name};

impl Call {
    /// Tells the party on `side` how its REFER goes: `frag` is the status
    /// line, `state` the subscription state.
    pub fn notify_refer(&mut self, ctx: &mut CallCtx, side: Side, frag: &str, state: &str) {
        let leg = self.leg_mut(side);
        let peer = leg.peer;
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let mut notify = ctx.request(dialog, Method::Notify, peer);
        notify.headers.push(Name::Event, "refer");
        notify
            .headers
            .push(Name::SubscriptionState, state.to_string());
        notify
            .headers
            .push(Name::ContentType, "message/sipfrag;version=2.0");
        notify.body = bytes::Bytes::from(format!("{frag}\r\n"));
        ctx.send(notify, peer);
    }
}
