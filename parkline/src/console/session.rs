//! The web console's sign-in sessions: a random id in an `HttpOnly`,
//! `SameSite=Strict` cookie stands for the grant of the token that signed
//! in. Sessions live [`LIFETIME`] from their last use; the table is
//! bounded ([`MAX_SESSIONS`]; the least recently used goes first), so
//! signing in again and again cannot grow it.

use crate::access::Grant;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "parkline_session";
/// How long an unused session stays valid.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 1000;

/// One signed-in browser.
struct Session {
    grant: Grant,
    last_used: Instant,
}

/// The live sessions, by id (32 random bytes, hex).
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `grant`; its id goes into the cookie.
    pub fn open(&self, grant: Grant, now: Instant) -> String {
        let bytes: [u8; 32] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, s| now.duration_since(s.last_used) < LIFETIME);
        if table.len() >= MAX_SESSIONS {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                table.remove(&k);
            }
        }
        table.insert(
            id.clone(),
            Session {
                grant,
                last_used: now,
            },
        );
        id
    }

    /// The grant of a live session, which counts as used now.
    pub fn grant(&self, id: &str, now: Instant) -> Option<Grant> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let session = table.get_mut(id)?;
        if now.duration_since(session.last_used) >= LIFETIME {
            table.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.grant.clone())
    }

    /// Ends a session (signing out).
    pub fn close(&self, id: &str) {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The session id in a `Cookie` header value.
pub fn from_cookie_header(value: &str) -> Option<&str> {
    value
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value that opens session `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(name: &str) -> Grant {
        Grant {
            name: name.into(),
            tenant: None,
            read_only: false,
        }
    }

    #[test]
    fn sessions_expire_when_unused_and_are_bounded() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let id = sessions.open(grant("ops"), t0);
        assert_eq!(id.len(), 64);
        let later = t0 + LIFETIME - Duration::from_secs(1);
        assert_eq!(sessions.grant(&id, later).unwrap().name, "ops");
        // Use renews it.
        assert!(sessions.grant(&id, later + LIFETIME / 2).is_some());
        assert!(sessions.grant(&id, later + LIFETIME * 2).is_none());
        assert!(sessions.grant("nope", t0).is_none());

        let first = sessions.open(grant("first"), t0);
        for i in 0..MAX_SESSIONS {
            sessions.open(grant("x"), t0 + Duration::from_millis(i as u64 + 1));
        }
        assert!(sessions.grant(&first, t0).is_none(), "oldest evicted");
        assert!(sessions.table.lock().unwrap().len() <= MAX_SESSIONS);

        let id = sessions.open(grant("bye"), t0);
        sessions.close(&id);
        assert!(sessions.grant(&id, t0).is_none());
    }

    #[test]
    fn cookies() {
        assert_eq!(
            from_cookie_header("a=1; parkline_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(from_cookie_header("a=1"), None);
        let c = set_cookie("abc");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
    }
}
