//! Prometheus metrics (`GET /metrics`, text exposition format) through the
//! `metrics` facade and its Prometheus exporter. Counters of what happened
//! are fed from the core's events as they are carried out; gauges and the
//! core's own counters are set from a snapshot when a scrape asks. Label
//! values are bounded: outcomes, results, causes as short codes, methods,
//! status classes, and tenants (which the operator provisions).

use crate::event::MetricsSnapshot;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switch::{CallEvent, EventKind, Refused, SwitchEvent, METHOD_LABELS};

/// Seconds from INVITE to answer: the buckets.
const SETUP_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];
/// Seconds in the lot: the buckets.
const WAIT_BUCKETS: [f64; 10] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 3600.0,
];

/// Installs the process's recorder (once, at start); the handle renders.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("parkline_call_setup_seconds".into()),
            &SETUP_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("parkline_park_wait_seconds".into()),
            &WAIT_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// How often histogram samples are folded into their buckets when nobody
/// scrapes: the recorder keeps every sample until an upkeep, so a switch
/// without a Prometheus would otherwise grow by each call's setup time.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds the recorded samples every [`UPKEEP_EVERY`], for as long as the
/// process runs (a scrape does the same, see [`render`]).
pub async fn keep_up(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        "parkline_calls_active",
        "Calls up now (ringing, talking, parked)."
    );
    describe_counter!(
        "parkline_calls_total",
        "Calls ended or refused, by outcome."
    );
    describe_histogram!(
        "parkline_call_setup_seconds",
        Unit::Seconds,
        "From the caller's INVITE to the callee's answer."
    );
    describe_gauge!(
        "parkline_parked_calls",
        "Calls in the parking lot, by tenant."
    );
    describe_counter!(
        "parkline_park_total",
        "Parks, by result (parked, or the refusal's cause)."
    );
    describe_counter!(
        "parkline_retrieve_total",
        "Retrievals, by result (retrieved, or the refusal's cause)."
    );
    describe_histogram!(
        "parkline_park_wait_seconds",
        Unit::Seconds,
        "Time in the lot, by how it ended (retrieved, abandoned, came_back)."
    );
    describe_gauge!("parkline_registrations", "Registered contacts, by tenant.");
    describe_counter!(
        "parkline_sip_requests_total",
        "SIP requests received, by method."
    );
    describe_counter!(
        "parkline_sip_responses_total",
        "SIP responses sent, by class."
    );
    describe_counter!(
        "parkline_auth_failures_total",
        "Failed digest authentications."
    );
    describe_gauge!(
        "parkline_transactions",
        "Live SIP transactions (server and client)."
    );
    describe_gauge!(
        "parkline_transaction_memory_bytes",
        "Memory the SIP transactions hold, bytes (estimate; 503 at sip.max_transaction_memory_mb)."
    );
    describe_counter!(
        "parkline_rtp_packets_total",
        "RTP packets, by direction (in, out)."
    );
    describe_gauge!(
        "parkline_music_streams",
        "Parties hearing the music on hold."
    );
    describe_counter!(
        "parkline_overload_refusals_total",
        "Requests refused with 503 at a transaction limit."
    );
    describe_counter!(
        "parkline_late_refusals_total",
        "New calls and subscriptions refused with 503 because they waited too long to be read."
    );
    describe_counter!(
        "parkline_events_dropped_total",
        "Events a slow event-stream client missed."
    );
    describe_counter!(
        "parkline_webhook_events_total",
        "Events posted to webhooks, by result (delivered, dropped)."
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory."
    );
    describe_counter!(
        "process_cpu_seconds_total",
        Unit::Seconds,
        "CPU time, user and system."
    );
    describe_gauge!("process_open_fds", "Open file descriptors.");
}

/// Counts what `ev` says happened.
pub fn observe(ev: &SwitchEvent) {
    match &ev.kind {
        EventKind::CallEnded { outcome, .. } => {
            counter!("parkline_calls_total", "outcome" => outcome.clone()).increment(1);
        }
        EventKind::CallAnswered { setup_ms } => {
            histogram!("parkline_call_setup_seconds").record(*setup_ms as f64 / 1000.0);
        }
        EventKind::Refused {
            what, status, code, ..
        } => match what {
            Refused::Call => {
                let outcome = if matches!(status, 404 | 480) {
                    "failed"
                } else {
                    "refused"
                };
                counter!("parkline_calls_total", "outcome" => outcome).increment(1);
            }
            Refused::Park => counter!("parkline_park_total", "result" => *code).increment(1),
            Refused::Retrieve => {
                counter!("parkline_retrieve_total", "result" => *code).increment(1);
            }
        },
        EventKind::Call { event } => observe_call(event),
        EventKind::CallStarted { .. }
        | EventKind::Registered { .. }
        | EventKind::Unregistered { .. } => {}
    }
}

fn observe_call(event: &CallEvent) {
    let wait = |end: &'static str, ms: u64| {
        histogram!("parkline_park_wait_seconds", "end" => end).record(ms as f64 / 1000.0);
    };
    match event {
        CallEvent::Parked { .. } => {
            counter!("parkline_park_total", "result" => "parked").increment(1)
        }
        CallEvent::Retrieved { after_ms, .. } => {
            counter!("parkline_retrieve_total", "result" => "retrieved").increment(1);
            wait("retrieved", *after_ms);
        }
        CallEvent::Abandoned { after_ms, .. } => wait("abandoned", *after_ms),
        CallEvent::ComebackRinging { after_ms, .. } => wait("came_back", *after_ms),
        _ => {}
    }
}

/// The exposition, with gauges and the core's counters set from `snap`.
pub fn render(handle: &PrometheusHandle, snap: &MetricsSnapshot) -> String {
    let s = &snap.status;
    gauge!("parkline_calls_active").set(s.calls as f64);
    gauge!("parkline_transactions").set((s.server_transactions + s.client_transactions) as f64);
    gauge!("parkline_transaction_memory_bytes").set(s.transaction_bytes as f64);
    gauge!("parkline_music_streams").set(snap.music_streams as f64);
    for t in &snap.tenants {
        gauge!("parkline_parked_calls", "tenant" => t.tenant.clone()).set(t.parked as f64);
        gauge!("parkline_registrations", "tenant" => t.tenant.clone()).set(t.registrations as f64);
    }
    for (method, n) in METHOD_LABELS.iter().zip(s.stats.requests_by_method) {
        counter!("parkline_sip_requests_total", "method" => *method).absolute(n);
    }
    for (class, n) in ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]
        .iter()
        .zip(s.stats.responses_by_class)
    {
        counter!("parkline_sip_responses_total", "code_class" => *class).absolute(n);
    }
    counter!("parkline_auth_failures_total").absolute(s.stats.auth_failures);
    counter!("parkline_overload_refusals_total").absolute(s.stats.overload_refusals);
    counter!("parkline_late_refusals_total").absolute(s.stats.late_refusals);
    counter!("parkline_rtp_packets_total", "direction" => "in").absolute(snap.rtp_in);
    counter!("parkline_rtp_packets_total", "direction" => "out").absolute(snap.rtp_out);
    counter!("parkline_events_dropped_total").absolute(snap.events_dropped);
    counter!("parkline_webhook_events_total", "result" => "delivered")
        .absolute(snap.webhook_delivered);
    counter!("parkline_webhook_events_total", "result" => "dropped").absolute(snap.webhook_dropped);
    process_figures();
    handle.run_upkeep();
    handle.render()
}

/// RSS, CPU time and open descriptors of this process, from /proc.
fn process_figures() {
    let page = 4096.0;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        if let Some(rss) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
        {
            gauge!("process_resident_memory_bytes").set(rss * page);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces) in parens.
        let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of stat: 12 and 13 here.
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu = (ticks(11) + ticks(12)) as f64 / hz;
        counter!("process_cpu_seconds_total").absolute(cpu as u64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge!("process_open_fds").set(fds.count() as f64);
    }
}
