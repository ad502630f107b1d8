//! Decisions by the operator's own system (billing): whether a call, a
//! park, a retrieval or a transfer may happen, where a call goes and for
//! how long. The core asks ([`AuthorizationRequest`] as an output), the
//! shell carries the question to the service and brings back a
//! [`Verdict`]; meanwhile the request waits here, bounded, with a
//! deadline, and verdicts may be cached a few seconds per tenant, caller,
//! callee and kind. No I/O and no clock here: times come in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What is to be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationKind {
    /// A new call.
    Call,
    /// Parking the caller's held call.
    Park,
    /// Retrieving a parked call.
    Retrieve,
    /// Transferring a call to a number (blind transfer).
    Transfer,
}

/// A question for the service.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuthorizationRequest {
    /// Matches the verdict to the question.
    pub id: u64,
    /// What is to be decided.
    pub kind: AuthorizationKind,
    /// Tenant.
    pub tenant: String,
    /// Who asks: an extension, or a trunk caller's number.
    pub caller: String,
    /// What was dialed: a number, or the feature code.
    pub callee: String,
}

/// The service's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow {
        /// Where the call goes instead of the number dialed (an extension
        /// or an external number; the embedded rules route it).
        route: Option<String>,
        /// How long the call may last once answered.
        time_limit: Option<Duration>,
    },
    /// No: the caller gets this status and cause.
    Refuse {
        /// SIP status, 400 to 699.
        status: u16,
        /// In words (reason phrase, record).
        cause: String,
    },
    /// No answer in time, or none that makes sense: the fallback decides.
    Unavailable,
}

/// What the switch does when the service gives no usable answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Decide by the embedded rules, as without a service.
    #[default]
    Embedded,
    /// Refuse (503).
    Refuse,
}

/// How the switch uses the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    /// Without a usable answer.
    pub fallback: Fallback,
    /// How long an answer stands for the same question (zero: not cached).
    pub cache_for: Duration,
    /// How long a question waits for its answer before the fallback
    /// decides (the shell's own timeout should be shorter).
    pub wait: Duration,
    /// Questions waiting at most; beyond, the fallback decides at once.
    pub max_waiting: usize,
}

impl Default for AuthorizationPolicy {
    fn default() -> Self {
        AuthorizationPolicy {
            fallback: Fallback::Embedded,
            cache_for: Duration::ZERO,
            wait: Duration::from_secs(3),
            max_waiting: 10_000,
        }
    }
}

/// Cached answers kept at most.
const MAX_CACHED: usize = 10_000;

/// The same question: what a cached verdict answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Question {
    kind: AuthorizationKind,
    tenant: String,
    caller: String,
    callee: String,
}

impl From<&AuthorizationRequest> for Question {
    fn from(r: &AuthorizationRequest) -> Self {
        Question {
            kind: r.kind,
            tenant: r.tenant.clone(),
            caller: r.caller.clone(),
            callee: r.callee.clone(),
        }
    }
}

/// One waiting question and what resumes with its verdict.
struct Waiting<T> {
    question: Question,
    deadline: Instant,
    resume: T,
}

/// What happens to a new question.
#[derive(Debug, PartialEq, Eq)]
pub enum Asked<T> {
    /// Ask the service this (the thing waits).
    Ask(AuthorizationRequest),
    /// Answered from the cache, or by the fallback when too many wait:
    /// resume at once.
    Now(T, Verdict),
}

/// The questions waiting for the service, and the cache, generic over
/// what each question holds up (`T`: the switch's suspended request).
pub struct Authorizations<T> {
    policy: AuthorizationPolicy,
    next_id: u64,
    waiting: HashMap<u64, Waiting<T>>,
    cache: HashMap<Question, (Verdict, Instant)>,
}

impl<T> Authorizations<T> {
    /// Empty, following `policy`.
    pub fn new(policy: AuthorizationPolicy) -> Self {
        Authorizations {
            policy,
            next_id: 1,
            waiting: HashMap::new(),
            cache: HashMap::new(),
        }
    }

    /// What becomes of a question about `kind` that holds up `resume`.
    pub fn ask(
        &mut self,
        now: Instant,
        (kind, tenant, caller, callee): (AuthorizationKind, &str, &str, &str),
        resume: T,
    ) -> Asked<T> {
        let question = Question {
            kind,
            tenant: tenant.to_string(),
            caller: caller.to_string(),
            callee: callee.to_string(),
        };
        if let Some((verdict, until)) = self.cache.get(&question) {
            if now < *until {
                return Asked::Now(resume, verdict.clone());
            }
        }
        if self.waiting.len() >= self.policy.max_waiting {
            return Asked::Now(resume, Verdict::Unavailable);
        }
        let id = self.next_id;
        self.next_id += 1;
        let request = AuthorizationRequest {
            id,
            kind,
            tenant: question.tenant.clone(),
            caller: question.caller.clone(),
            callee: question.callee.clone(),
        };
        self.waiting.insert(
            id,
            Waiting {
                question,
                deadline: now + self.policy.wait,
                resume,
            },
        );
        Asked::Ask(request)
    }

    /// The verdict on question `id`: what it held up (none if it is gone:
    /// answered late, cancelled), the verdict cached when it may be.
    pub fn answer(&mut self, now: Instant, id: u64, verdict: &Verdict) -> Option<T> {
        let w = self.waiting.remove(&id)?;
        if !self.policy.cache_for.is_zero() && *verdict != Verdict::Unavailable {
            if self.cache.len() >= MAX_CACHED {
                self.cache.retain(|_, (_, until)| now < *until);
            }
            if self.cache.len() < MAX_CACHED {
                self.cache
                    .insert(w.question, (verdict.clone(), now + self.policy.cache_for));
            }
        }
        Some(w.resume)
    }

    /// Takes back a waiting question whose holder matches (a cancelled
    /// call): its verdict will find nothing.
    pub fn withdraw(&mut self, matches: impl Fn(&T) -> bool) -> Option<T> {
        let id = self
            .waiting
            .iter()
            .find(|(_, w)| matches(&w.resume))
            .map(|(id, _)| *id)?;
        self.waiting.remove(&id).map(|w| w.resume)
    }

    /// Questions past their deadline, taken out: the fallback decides.
    pub fn expired(&mut self, now: Instant) -> Vec<T> {
        let late: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, w)| now >= w.deadline)
            .map(|(id, _)| *id)
            .collect();
        late.into_iter()
            .filter_map(|id| self.waiting.remove(&id).map(|w| w.resume))
            .collect()
    }

    /// The earliest deadline of a waiting question.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().map(|w| w.deadline).min()
    }

    /// Questions waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The fallback.
    pub fn fallback(&self) -> Fallback {
        self.policy.fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cache_s: u64, max_waiting: usize) -> AuthorizationPolicy {
        AuthorizationPolicy {
            fallback: Fallback::Refuse,
            cache_for: Duration::from_secs(cache_s),
            wait: Duration::from_secs(2),
            max_waiting,
        }
    }

    const Q: (AuthorizationKind, &str, &str, &str) =
        (AuthorizationKind::Call, "acme", "444", "333");

    #[test]
    fn a_question_waits_for_its_verdict_or_its_deadline() {
        let mut auth = Authorizations::new(policy(0, 10));
        let t0 = Instant::now();
        let Asked::Ask(req) = auth.ask(t0, Q, "first") else {
            panic!("asks")
        };
        assert_eq!(
            (req.kind, req.caller.as_str()),
            (AuthorizationKind::Call, "444")
        );
        let Asked::Ask(second) = auth.ask(t0, Q, "second") else {
            panic!("asks")
        };
        assert_ne!(req.id, second.id);
        assert_eq!(auth.next_deadline(), Some(t0 + Duration::from_secs(2)));
        let allow = Verdict::Allow {
            route: None,
            time_limit: None,
        };
        assert_eq!(auth.answer(t0, req.id, &allow), Some("first"));
        assert_eq!(auth.answer(t0, req.id, &allow), None, "answered once");
        assert!(auth.expired(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(auth.expired(t0 + Duration::from_secs(2)), vec!["second"]);
        assert_eq!(auth.waiting(), 0);
        // Not cached: the same question is asked again.
        assert!(matches!(auth.ask(t0, Q, "third"), Asked::Ask(_)));
        assert_eq!(auth.withdraw(|t| *t == "third"), Some("third"));
    }

    #[test]
    fn verdicts_are_cached_for_a_while_and_waiting_is_bounded() {
        let mut auth = Authorizations::new(policy(5, 1));
        let t0 = Instant::now();
        let Asked::Ask(req) = auth.ask(t0, Q, 1) else {
            panic!("asks")
        };
        // One waits already: the next is answered by the fallback at once.
        assert_eq!(auth.ask(t0, Q, 2), Asked::Now(2, Verdict::Unavailable));
        let no = Verdict::Refuse {
            status: 402,
            cause: "no credit".into(),
        };
        auth.answer(t0, req.id, &no);
        let later = t0 + Duration::from_secs(4);
        assert_eq!(auth.ask(later, Q, 3), Asked::Now(3, no));
        // Another caller is another question; an expired answer is not used.
        let other = (AuthorizationKind::Call, "acme", "555", "333");
        assert!(matches!(auth.ask(later, other, 4), Asked::Ask(_)));
        assert!(matches!(
            auth.ask(t0 + Duration::from_secs(5), Q, 5),
            Asked::Ask(_) | Asked::Now(_, Verdict::Unavailable)
        ));
    }
}
