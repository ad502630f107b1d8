//! Call records as RFC 4180 CSV (the CLI's `calls --csv` and the API's
//! `/api/records?format=csv` write the same columns), and the search both
//! the API and the console use.

use accounts::CallRecord;

/// The header line's columns.
pub const HEADER: &str = "id,tenant,caller,callee,routed_to,connected,started_ms,answered_ms,ended_ms,outcome,status,cause,features,events";

/// One CSV field, quoted when it must be.
fn field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// One record as a CSV line (no line end).
pub fn row(r: &CallRecord) -> String {
    let fields = [
        r.id.clone(),
        r.tenant.clone(),
        r.caller.clone(),
        r.callee.clone(),
        r.routed_to.clone(),
        r.connected.clone(),
        r.started_ms.to_string(),
        r.answered_ms.map(|a| a.to_string()).unwrap_or_default(),
        r.ended_ms.to_string(),
        r.outcome.as_str().to_string(),
        r.status.to_string(),
        r.cause.clone(),
        r.features.clone(),
        r.events.trim_end().replace('\n', "; "),
    ];
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    line.join(",")
}

/// Whether a record matches a search: every word of `query` appears
/// (case-insensitively) in its id, parties, route, outcome, cause,
/// features or events.
pub fn matches(r: &CallRecord, query: &str) -> bool {
    let text = [
        r.id.as_str(),
        &r.caller,
        &r.callee,
        &r.routed_to,
        &r.connected,
        r.outcome.as_str(),
        &r.cause,
        &r.features,
        &r.events,
    ]
    .join("\n")
    .to_lowercase();
    query
        .split_whitespace()
        .all(|word| text.contains(&word.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_search() {
        let r = CallRecord {
            id: "abc".into(),
            tenant: "acme".into(),
            caller: "444".into(),
            callee: "*70333".into(),
            cause: "Busy, \"really\"".into(),
            routed_to: "333".into(),
            connected: String::new(),
            started_ms: 1,
            answered_ms: None,
            ended_ms: 2,
            outcome: accounts::Outcome::Busy,
            status: 486,
            features: String::new(),
            events: "parked at 333\nretrieved by 555\n".into(),
        };
        let line = row(&r);
        assert!(line.contains("\"Busy, \"\"really\"\"\""), "{line}");
        assert!(line.ends_with("parked at 333; retrieved by 555"), "{line}");
        assert_eq!(HEADER.split(',').count(), line.split(',').count() - 1);
        assert!(matches(&r, "444 RETRIEVED"));
        assert!(matches(&r, ""));
        assert!(!matches(&r, "444 666"));
    }
}
