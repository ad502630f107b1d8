//! Answering a carrier's digest challenge: an INVITE the switch sent to a
//! trunk that has credentials and came back with 401/407 is sent again,
//! once, with them (RFC 3261 §22.2). The first INVITE's transaction ACKs
//! the challenge itself.

use super::Switch;
use crate::time::Now;
use sip::digest::{Challenge, Credentials};
use sip::transaction::ClientKey;
use sip::{Name, Response, SipHeaders};
use tracing::{debug, warn};

impl Switch {
    /// Answers `resp` (a 401/407 to the fork `key`) if its trunk has
    /// credentials and the fork was not answered with them already. True
    /// when a new INVITE went out (the fork goes on).
    pub(super) fn answer_trunk_challenge(
        &mut self,
        now: Now,
        key: &ClientKey,
        resp: &Response,
    ) -> bool {
        let Some(&id) = self.calls.by_fork.get(key) else {
            return false;
        };
        let Some(fork) = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| c.phase.forks().iter().find(|f| &f.key == key))
        else {
            return false;
        };
        if fork.authenticated {
            warn!(
                call = id,
                status = resp.status,
                "the carrier refused the trunk's credentials"
            );
            return false;
        }
        let peer = fork.peer;
        let Some(auth) = self.trunk_of(peer).and_then(|t| t.auth) else {
            return false;
        };
        let mut invite = fork.invite.clone();
        let uri = invite.uri.to_string();
        let cnonce = self.ids.tag();
        let Some((answer_name, answer)) = answer_challenge(
            resp,
            (&auth.username, &auth.password),
            ("INVITE", &uri),
            &cnonce,
        ) else {
            debug!(call = id, "a challenge the switch cannot answer");
            return false;
        };
        let seq = invite.cseq().map_or(1, |c| c.seq) + 1;
        invite.headers.set(Name::CSeq, format!("{seq} INVITE"));
        invite.headers.set(Name::Via, self.via(peer));
        invite.headers.push(answer_name, answer);
        let Some(new_key) =
            self.layer
                .send_request(now.mono, invite.clone(), peer, peer.is_reliable())
        else {
            return false;
        };
        self.drain_layer();
        self.calls.by_fork.remove(key);
        self.calls.by_fork.insert(new_key.clone(), id);
        if let Some(f) = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.phase.forks_mut().iter_mut().find(|f| &f.key == key))
        {
            f.key = new_key;
            f.invite = invite;
            f.authenticated = true;
        }
        debug!(call = id, "answered the carrier's challenge");
        true
    }
}

/// The credentials header (name and value) answering the digest challenge
/// of a 401 (`Authorization`) or 407 (`Proxy-Authorization`) for a request
/// `method` to `uri`; `None` when it holds no challenge the switch speaks.
pub(super) fn answer_challenge(
    resp: &Response,
    account: (&str, &str),
    request: (&str, &str),
    cnonce: &str,
) -> Option<(Name, String)> {
    let (challenge_name, answer_name) = if resp.status == 401 {
        (Name::WwwAuthenticate, Name::Authorization)
    } else {
        (Name::ProxyAuthenticate, Name::ProxyAuthorization)
    };
    let challenge = resp
        .headers
        .get_all(challenge_name)
        .find_map(|v| Challenge::parse(v))?;
    let creds = Credentials::answering(&challenge, account, request, cnonce);
    Some((answer_name, creds.header_value()))
}
