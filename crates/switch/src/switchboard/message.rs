//! Text messages (RFC 3428 MESSAGE): between extensions of one tenant
//! (relayed to every registered phone of the addressee), and the switch's
//! own notes to phones (park alerts).

use super::Switch;
use crate::call::Identity;
use crate::time::Now;
use accounts::Extension;
use bytes::Bytes;
use sip::transaction::ServerKey;
use sip::{Method, Name, Request};
use tracing::info;

/// A text for an extension's phones.
pub(super) struct Text<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// The addressee.
    pub to: &'a str,
    /// Who it is from, as phones show it.
    pub from: Identity,
    /// `Content-Type` of `body`.
    pub content_type: &'a str,
    /// The message.
    pub body: Bytes,
}

impl Switch {
    /// A MESSAGE of an authenticated extension: relayed to the addressee's
    /// phones in the same tenant (202), or refused (404 no such extension,
    /// 480 none registered, 403 not a number of the sender's tenant).
    pub(super) fn handle_message_request(
        &mut self,
        now: Now,
        key: ServerKey,
        req: Request,
        ext: Extension,
    ) {
        let to = req.uri.user_decoded().unwrap_or_default();
        let status = match self.dir.extension(&ext.tenant, &to) {
            None => (404, "No such extension"),
            Some(_) => {
                let from = Identity::new(ext.name.clone(), ext.number.clone());
                let content_type = req
                    .headers
                    .get_str(Name::ContentType)
                    .unwrap_or_else(|| "text/plain".to_string());
                let text = Text {
                    tenant: &ext.tenant,
                    to: &to,
                    from,
                    content_type: &content_type,
                    body: req.body.clone(),
                };
                if self.send_text(now, text) == 0 {
                    (480, "Not registered")
                } else {
                    info!(tenant = %ext.tenant, from = %ext.number, %to, "message relayed");
                    (202, "Accepted")
                }
            }
        };
        let resp = self.response(&req, status.0, Some(status.1));
        self.reply(now, &key, resp);
    }

    /// Sends `text` to every registered phone of its addressee; returns
    /// how many it went to.
    pub(super) fn send_text(&mut self, now: Now, text: Text) -> usize {
        let Some(domain) = self.dir.tenant(text.tenant).map(|t| t.domain.clone()) else {
            return 0;
        };
        let contacts = self.registrar.lookup(text.tenant, text.to).to_vec();
        let mut sent = 0;
        for b in &contacts {
            let Some(target) = self.contact_target(b, format!("<sip:{}@{domain}>", text.to)) else {
                continue;
            };
            let mut headers = sip::Headers::default();
            headers.push(Name::Via, self.via(target.peer));
            headers.push(Name::MaxForwards, "70");
            target.push_route(&mut headers);
            headers.push(
                Name::From,
                format!("{};tag={}", text.from.name_addr(&domain), self.ids.tag()),
            );
            headers.push(Name::To, target.to.clone());
            headers.push(Name::CallId, self.ids.call_id());
            headers.push(Name::CSeq, "1 MESSAGE");
            headers.push(Name::UserAgent, self.cfg.server_name.clone());
            headers.push(Name::ContentType, text.content_type.to_string());
            let peer = target.peer;
            let message = Request {
                method: Method::Message,
                uri: target.uri,
                headers,
                body: text.body.clone(),
            };
            if self
                .layer
                .send_request(now.mono, message, peer, peer.is_reliable())
                .is_some()
            {
                sent += 1;
            }
        }
        self.drain_layer();
        sent
    }
}
