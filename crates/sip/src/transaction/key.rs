//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

use crate::message::{Request, Response, SipHeaders};
use crate::method::Method;

/// Identifies a server transaction. ACK and CANCEL map onto the INVITE's
/// branch; the method distinguishes a CANCEL's own transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerKey {
    /// Branch (RFC 3261) or a synthesized RFC 2543 identity.
    pub branch: String,
    /// sent-by of the top Via.
    pub sent_by: String,
    /// Method (ACK counted as INVITE).
    pub method: String,
}

impl ServerKey {
    /// The key a request matches. `None` if it has no readable top Via.
    pub fn of(req: &Request) -> Option<ServerKey> {
        let via = req.top_via().ok()?;
        let method = match req.method {
            Method::Ack => "INVITE".to_string(),
            ref m => m.as_str().to_string(),
        };
        let branch = if via.has_rfc3261_branch() {
            via.branch()?.to_string()
        } else {
            // RFC 2543 matching: Request-URI, From tag, Call-ID, CSeq number, top Via.
            let from_tag = req
                .caller()
                .ok()
                .and_then(|f| f.tag().map(str::to_string))
                .unwrap_or_default();
            let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
            let call_id = String::from_utf8_lossy(req.call_id().unwrap_or_default()).into_owned();
            let uri = if req.method == Method::Ack || req.method == Method::Cancel {
                String::new()
            } else {
                req.uri.to_string()
            };
            format!("2543|{uri}|{from_tag}|{call_id}|{cseq}|{via}")
        };
        Some(ServerKey {
            branch,
            sent_by: via.sent_by(),
            method,
        })
    }

    /// The key of the INVITE that a CANCEL targets.
    pub fn invite_of_cancel(&self) -> ServerKey {
        ServerKey {
            method: "INVITE".into(),
            ..self.clone()
        }
    }
}

/// Identifies a client transaction: our branch and the CSeq method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch we generated.
    pub branch: String,
    /// CSeq method of the request.
    pub method: String,
}

impl ClientKey {
    /// The key a response matches.
    pub fn of_response(resp: &Response) -> Option<ClientKey> {
        let via = resp.top_via().ok()?;
        let cseq = resp.cseq().ok()?;
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: cseq.method.as_str().to_string(),
        })
    }

    /// The key of a request we send.
    pub fn of_request(req: &Request) -> Option<ClientKey> {
        let via = req.top_via().ok()?;
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: req.method.as_str().to_string(),
        })
    }
}
