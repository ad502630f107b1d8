//! The console's pages, rendered on the server: a page is the layout
//! around one or more fragments, and the browser script swaps a
//! fragment for a fresh copy when an event says it changed. Times that
//! move (waiting, countdowns, talk time) carry their origin in a
//! `data-*` attribute so the script counts them without asking again.

use super::html::{clock, escape, sparkline, table};
use super::status_history::Sample;
use crate::access::Grant;
use accounts::{Binding, CallRecord};
use std::fmt::Write;
use switch::{LiveCall, ParkedInfo};

/// The console's pages, in the order the menu shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// Parking lots, per tenant.
    Parked,
    /// Live calls.
    Calls,
    /// Registered phones.
    Registrations,
    /// Call records, searchable.
    Records,
    /// Key figures with sparklines.
    Status,
}

impl Page {
    /// Every page, menu order.
    pub const ALL: [Page; 5] = [
        Page::Parked,
        Page::Calls,
        Page::Registrations,
        Page::Records,
        Page::Status,
    ];

    /// Its path (and fragment name).
    pub fn path(self) -> &'static str {
        match self {
            Page::Parked => "parked",
            Page::Calls => "calls",
            Page::Registrations => "registrations",
            Page::Records => "records",
            Page::Status => "status",
        }
    }

    /// Its menu entry and title.
    pub fn title(self) -> &'static str {
        match self {
            Page::Parked => "Parking lots",
            Page::Calls => "Live calls",
            Page::Registrations => "Registrations",
            Page::Records => "Call records",
            Page::Status => "Status",
        }
    }

    /// The events (their `type`) after which its fragment is fetched
    /// again; the status page refreshes on a timer instead.
    pub fn refreshed_by(self) -> &'static str {
        match self {
            Page::Parked | Page::Calls => "call_started call_answered call_ended call",
            Page::Registrations => "registered unregistered",
            Page::Records => "call_ended",
            Page::Status => "",
        }
    }
}

/// A whole page: the menu, who is signed in, and `fragment` (the page's
/// live part) in its refreshable container. `query` is the fragment's
/// query string (the records' search), kept for its refreshes.
pub fn layout(page: Page, grant: &Grant, now_ms: u64, query: &str, fragment: &str) -> String {
    let mut menu = String::new();
    for p in Page::ALL {
        let current = if p == page {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(menu, "<a href=\"/{}\"{current}>{}</a>", p.path(), p.title());
    }
    let scope = match &grant.tenant {
        Some(t) => format!("tenant {}", escape(t)),
        None => "all tenants".to_string(),
    };
    let mode = if grant.read_only { ", read-only" } else { "" };
    let intro = match page {
        Page::Records => records_search(query),
        _ => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Parkline</title>\
         <link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script type=\"module\" src=\"/console/assets/console.js\"></script></head>\
         <body data-now-ms=\"{now_ms}\" data-writable=\"{writable}\">\
         <header><strong class=\"brand\">Parkline</strong><nav>{menu}</nav>\
         <span class=\"who\">{name} ({scope}{mode})</span>\
         <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></header>\
         <main><h1>{title}</h1>{intro}<p class=\"live\" id=\"live\">connecting…</p>\
         <div id=\"fragment\" data-fragment=\"{path}\" data-query=\"{query}\" data-refresh-on=\"{on}\">{fragment}</div>\
         </main></body></html>",
        title = page.title(),
        writable = !grant.read_only,
        name = escape(&grant.name),
        path = page.path(),
        query = escape(query),
        on = page.refreshed_by(),
    )
}

/// The sign-in page; `problem` says why the last try failed.
pub fn login(problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Sign in · Parkline</title>\
         <link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head>\
         <body class=\"login\"><main><h1>Parkline</h1>{problem}\
         <form method=\"post\" action=\"/login\"><label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"hint\">A token comes from <code>parkline token add --name NAME</code>; \
         the demo prints one at start.</p></main></body></html>"
    )
}

/// The parking lots the grant sees, one table per tenant.
pub fn parked(list: &[ParkedInfo], grant: &Grant, now_ms: u64) -> String {
    if list.is_empty() {
        return "<p class=\"empty\">No calls are parked.</p>".into();
    }
    let mut tenants: Vec<&str> = list.iter().map(|p| p.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut out = String::new();
    for tenant in tenants {
        let rows: Vec<String> = list
            .iter()
            .filter(|p| p.tenant == tenant)
            .map(|p| parked_row(p, grant, now_ms))
            .collect();
        let _ = write!(
            out,
            "<section class=\"lot\" data-tenant=\"{t}\"><h2>{t}</h2>{}</section>",
            table(
                "parked",
                &[
                    "Position",
                    "Retrieve with",
                    "Parked party",
                    "Parked by",
                    "Waiting",
                    "Comes back in",
                    ""
                ],
                &rows
            ),
            t = escape(tenant),
        );
    }
    out
}

fn parked_row(p: &ParkedInfo, grant: &Grant, now_ms: u64) -> String {
    let waiting = now_ms.saturating_sub(p.since_ms) / 1000;
    let comeback = match p.comeback_ms {
        Some(at) => format!(
            "<td class=\"countdown\" data-until-ms=\"{at}\">{}</td>",
            clock(at.saturating_sub(now_ms) / 1000)
        ),
        None => "<td>—</td>".into(),
    };
    let actions = if grant.read_only {
        String::new()
    } else {
        format!(
            "<form class=\"retrieve\" data-tenant=\"{t}\" data-position=\"{pos}\">\
             <input name=\"extension\" aria-label=\"extension\" placeholder=\"extension\" size=\"6\" required>\
             <button type=\"submit\">Retrieve</button></form>\
             <button type=\"button\" class=\"hangup\" data-call=\"{call}\">Hang up</button>",
            t = escape(&p.tenant),
            pos = escape(&p.position),
            call = p.call,
        )
    };
    format!(
        "<tr data-position=\"{pos}\"><td class=\"position\">{pos}</td><td>{retrieval}</td>\
         <td class=\"party\">{party}</td><td>{parker}</td>\
         <td class=\"waiting\" data-since-ms=\"{since}\">{waited}</td>{comeback}<td class=\"actions\">{actions}</td></tr>",
        pos = escape(&p.position),
        retrieval = escape(&p.retrieval),
        party = escape(&p.parked_party),
        parker = escape(&p.parker),
        since = p.since_ms,
        waited = clock(waiting),
    )
}

/// The live calls.
pub fn calls(list: &[LiveCall], grant: &Grant, now_ms: u64) -> String {
    if list.is_empty() {
        return "<p class=\"empty\">No calls.</p>".into();
    }
    let rows: Vec<String> = list
        .iter()
        .map(|c| {
            let action = if grant.read_only {
                String::new()
            } else {
                format!(
                    "<button type=\"button\" class=\"hangup\" data-call=\"{}\">Hang up</button>",
                    c.id
                )
            };
            let since = c.answered_ms.unwrap_or(c.started_ms);
            format!(
                "<tr data-call=\"{id}\"><td>{tenant}</td><td>{from}</td><td>{to}</td>\
                 <td class=\"state\">{state}</td><td class=\"waiting\" data-since-ms=\"{since}\">{t}</td>\
                 <td class=\"actions\">{action}</td></tr>",
                id = c.id,
                tenant = escape(&c.tenant),
                from = escape(&c.from),
                to = escape(&c.to),
                state = c.state,
                t = clock(now_ms.saturating_sub(since) / 1000),
            )
        })
        .collect();
    table(
        "calls",
        &["Tenant", "From", "To", "State", "For", ""],
        &rows,
    )
}

/// The registered phones.
pub fn registrations(list: &[Binding], now_s: u64) -> String {
    if list.is_empty() {
        return "<p class=\"empty\">No phone is registered.</p>".into();
    }
    let rows: Vec<String> = list
        .iter()
        .map(|b| {
            format!(
                "<tr><td>{}</td><td class=\"extension\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&b.tenant),
                escape(&b.extension),
                escape(&b.contact),
                escape(&b.source.to_string()),
                escape(&b.user_agent),
                clock(b.expires_at.saturating_sub(now_s)),
            )
        })
        .collect();
    table(
        "registrations",
        &[
            "Tenant",
            "Extension",
            "Contact",
            "From",
            "Phone",
            "Expires in",
        ],
        &rows,
    )
}

/// The search form above the records.
fn records_search(query: &str) -> String {
    let q = search_words(query);
    let csv = if query.is_empty() {
        "/api/records?format=csv".to_string()
    } else {
        format!("/api/records?format=csv&{}", escape(query))
    };
    format!(
        "<form class=\"search\" method=\"get\" action=\"/records\">\
         <input name=\"q\" type=\"search\" aria-label=\"search\" placeholder=\"number, cause, call id\" value=\"{}\">\
         <button type=\"submit\">Search</button> <a class=\"csv\" href=\"{csv}\" download>Export CSV</a></form>",
        escape(&q)
    )
}

/// The `q` (the records' search) of a query string, decoded.
pub fn search_words(query: &str) -> String {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "q")
        .map(|(_, v)| percent_decoded(v))
        .unwrap_or_default()
}

/// `+` and `%XX` of a form's query value decoded (a `%` without two
/// hex digits stays as it is).
pub fn percent_decoded(v: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' => bytes
                .get(i + 1..i + 3)
                .and_then(|h| Some(hex(h[0])? << 4 | hex(h[1])?)),
            _ => None,
        };
        match (bytes[i], decoded) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The call records (newest first).
pub fn records(list: &[CallRecord]) -> String {
    if list.is_empty() {
        return "<p class=\"empty\">No call records match.</p>".into();
    }
    let rows: Vec<String> = list
        .iter()
        .map(|r| {
            let talk = r
                .answered_ms
                .map(|a| clock(r.ended_ms.saturating_sub(a) / 1000))
                .unwrap_or_default();
            format!(
                "<tr><td><time data-ms=\"{ms}\">{start}</time></td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td class=\"connected\">{}</td><td>{}</td><td>{talk}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.tenant),
                escape(&r.caller),
                escape(&r.callee),
                escape(&r.routed_to),
                escape(&r.connected),
                r.outcome.as_str(),
                escape(&r.cause),
                escape(&r.features),
                ms = r.started_ms,
                start = crate::admin::utc(r.started_ms),
            )
        })
        .collect();
    table(
        "records",
        &[
            "Start (UTC)",
            "Tenant",
            "Caller",
            "Callee",
            "Routed to",
            "Talked",
            "Outcome",
            "Talk",
            "Cause",
            "Features",
        ],
        &rows,
    )
}

/// The key figures, each with its sparkline over the history.
pub fn status(history: &[Sample]) -> String {
    let Some(last) = history.last() else {
        return "<p class=\"empty\">No figures yet.</p>".into();
    };
    /// One figure: its name, its history and its last value as shown.
    struct Figure {
        name: &'static str,
        of: fn(&Sample) -> f64,
        shown: String,
    }
    let figures = [
        Figure {
            name: "Live calls",
            of: |s| s.calls as f64,
            shown: last.calls.to_string(),
        },
        Figure {
            name: "Parked calls",
            of: |s| s.parked as f64,
            shown: last.parked.to_string(),
        },
        Figure {
            name: "Registrations",
            of: |s| s.registrations as f64,
            shown: last.registrations.to_string(),
        },
        Figure {
            name: "SIP requests/s",
            of: |s| s.requests_per_s,
            shown: format!("{:.1}", last.requests_per_s),
        },
        Figure {
            name: "Auth failures/s",
            of: |s| s.auth_failures_per_s,
            shown: format!("{:.1}", last.auth_failures_per_s),
        },
        Figure {
            name: "Transactions",
            of: |s| s.transactions as f64,
            shown: last.transactions.to_string(),
        },
    ];
    let mut out = String::from("<dl class=\"figures\">");
    for f in figures {
        let series: Vec<f64> = history.iter().map(f.of).collect();
        let _ = write!(
            out,
            "<div class=\"figure\"><dt>{}</dt><dd><span class=\"value\">{}</span>{}</dd></div>",
            f.name,
            f.shown,
            sparkline(&series, 160, 32)
        );
    }
    out.push_str("</dl>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(read_only: bool) -> Grant {
        Grant {
            name: "ops".into(),
            tenant: None,
            read_only,
        }
    }

    fn parked_call() -> ParkedInfo {
        ParkedInfo {
            call: 7,
            tenant: "acme".into(),
            position: "333".into(),
            retrieval: "*71333".into(),
            parker: "444".into(),
            parked_party: "\"<John>\" <555>".into(),
            since_ms: 1_000,
            comeback_ms: Some(121_000),
        }
    }

    #[test]
    fn a_parked_call_shows_its_clocks_and_buttons_escaped() {
        let html = parked(&[parked_call()], &ops(false), 61_000);
        assert!(html.contains("<td class=\"waiting\" data-since-ms=\"1000\">1:00</td>"));
        assert!(html.contains("data-until-ms=\"121000\">1:00</td>"));
        assert!(html.contains("&quot;&lt;John&gt;&quot;"), "{html}");
        assert!(html.contains("class=\"hangup\" data-call=\"7\""));
        assert!(html.contains("*71333"));
        let read_only = parked(&[parked_call()], &ops(true), 61_000);
        assert!(!read_only.contains("<button"));
        assert!(parked(&[], &ops(false), 0).contains("No calls are parked"));
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decoded("a+b%2Cc%"), "a b,c%");
        assert_eq!(percent_decoded("%zz"), "%zz");
        assert_eq!(percent_decoded("%41"), "A");
    }
}
