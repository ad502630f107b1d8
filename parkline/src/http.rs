//! The admin HTTP API: health, status and registrations as JSON. It answers
//! only requests whose `Host` is an IP literal, `localhost` or a configured
//! name, so a web page cannot reach it through DNS rebinding.

use crate::event::{Event, Query};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The API's routes; `allowed_hosts` are the names answered besides IP
/// literals and `localhost`.
pub fn router(events: mpsc::Sender<Event>, allowed_hosts: Vec<String>) -> Router {
    let allowed: Arc<[String]> = allowed_hosts.into();
    Router::new()
        .route("/health", get(health))
        .route("/api/status", get(status))
        .route("/api/registrations", get(registrations))
        .route("/api/parked", get(parked))
        .with_state(events)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let allowed = allowed.clone();
            async move { check_host(&allowed, req, next).await }
        }))
}

async fn check_host(allowed: &[String], req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host_allowed(host, allowed) {
        next.run(req).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, "unknown Host\n").into_response()
    }
}

/// Whether a `Host` header value names this API: an IP literal (v4, or v6
/// in brackets), `localhost`, or an allowed name; any port.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

async fn ask<T>(
    events: &mpsc::Sender<Event>,
    make: impl FnOnce(oneshot::Sender<T>) -> Query,
) -> Result<T, StatusCode> {
    let (tx, rx) = oneshot::channel();
    events
        .send(Event::Query(make(tx)))
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    rx.await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

/// How long the core may take to answer before the switch counts as not
/// running (a stuck or dead core loop must not look healthy).
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `ok` only when the core loop answers a question within [`HEALTH_WAIT`].
async fn health(State(events): State<mpsc::Sender<Event>>) -> Response {
    match tokio::time::timeout(HEALTH_WAIT, ask(&events, Query::Status)).await {
        Ok(Ok(_)) => "ok\n".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "core not answering\n").into_response(),
    }
}

async fn status(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<crate::event::Status>, StatusCode> {
    ask(&events, Query::Status).await.map(Json)
}

async fn registrations(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<Vec<accounts::Binding>>, StatusCode> {
    ask(&events, Query::Bindings).await.map(Json)
}

async fn parked(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<Vec<crate::event::ParkedView>>, StatusCode> {
    ask(&events, Query::Parked).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn only_addresses_localhost_and_named_hosts() {
        let named = ["pbx.example".to_string()];
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "localhost:8080",
            "PBX.example",
        ] {
            assert!(host_allowed(ok, &named), "{ok}");
        }
        for bad in [
            "",
            "attacker.example",
            "attacker.example:8080",
            "[evil",
            "localhost.evil",
        ] {
            assert!(!host_allowed(bad, &named), "{bad}");
        }
    }
}
