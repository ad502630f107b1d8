//! The admin HTTP API: health, status, registrations and parked calls as
//! JSON, Prometheus metrics, and the event stream (server-sent events). It
//! answers only requests whose `Host` is an IP literal, `localhost` or a
//! configured name, so a web page cannot reach it through DNS rebinding.

use crate::access::{Access, Denied, Grant};
use crate::event::{Event, Query};
use crate::event_stream::EventStream;
use axum::extract::ConnectInfo;
use axum::extract::Query as Params;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What the API's handlers share: the way to the core, the metrics
/// renderer and the event stream.
#[derive(Clone)]
pub struct Api {
    /// Questions to the core task.
    pub events: mpsc::Sender<Event>,
    /// Renders the Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// The switch's events.
    pub stream: EventStream,
    /// What the webhooks delivered and dropped.
    pub webhooks: std::sync::Arc<crate::webhooks::WebhookStats>,
    /// The API's tokens.
    pub access: Arc<Access>,
    /// Whether `/health` and `/metrics` answer any address without a token.
    pub open_health_and_metrics: bool,
    /// The store (the write API opens its own connection).
    pub db: store::Location,
    /// The web console's sessions and history.
    pub console: Arc<crate::console::Console>,
}

/// The API's routes; `allowed_hosts` are the names answered besides IP
/// literals and `localhost`.
pub fn router(api: Api, allowed_hosts: Vec<String>) -> Router {
    let allowed: Arc<[String]> = allowed_hosts.into();
    let api_routes = Router::new()
        .route("/api/status", get(status))
        .route("/api/registrations", get(registrations))
        .route("/api/parked", get(parked))
        .route("/api/events", get(event_stream))
        .route("/api/openapi.json", get(openapi))
        .route("/api/calls", get(crate::call_control_api::calls))
        .route("/api/records", get(crate::records_api::records))
        .route(
            "/api/calls/:id",
            axum::routing::delete(crate::call_control_api::hang_up),
        )
        .route(
            "/api/parked/:tenant/:position/move",
            axum::routing::post(crate::call_control_api::move_parked),
        )
        .route(
            "/api/parked/:tenant/:position/retrieve",
            axum::routing::post(crate::call_control_api::send_parked),
        )
        .merge(crate::provisioning_api::routes())
        .merge(crate::tenants_api::routes())
        .merge(crate::trunks_api::routes())
        .layer(middleware::from_fn_with_state(api.clone(), require_token));
    let open_routes = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            loopback_or_token,
        ));
    api_routes
        .merge(open_routes)
        .merge(crate::console::routes(api.clone()))
        .with_state(api)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let allowed = allowed.clone();
            async move { check_host(&allowed, req, next).await }
        }))
}

/// The caller's address (the server runs with connect info).
pub(crate) fn peer_of(req: &Request) -> std::net::IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// The header the console's script sends with every change it asks for:
/// a cross-site form cannot send it, so a session cookie alone never
/// changes anything (on top of the cookie's `SameSite=Strict`).
const CONSOLE_HEADER: &str = "x-parkline-console";

/// Checks the bearer token of an `/api/*` request, or else the console's
/// session; the grant goes with the request to its handler.
async fn require_token(State(api): State<Api>, mut req: Request, next: Next) -> Response {
    let from = peer_of(&req);
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth.is_none() {
        if let Some(grant) = crate::console::session_grant(&api, &req) {
            let safe = req.method() == axum::http::Method::GET;
            if !safe && !req.headers().contains_key(CONSOLE_HEADER) {
                return (
                    StatusCode::FORBIDDEN,
                    "changes with a console session need the X-Parkline-Console header\n",
                )
                    .into_response();
            }
            req.extensions_mut().insert(grant);
            return next.run(req).await;
        }
    }
    match api.access.check(auth, from, std::time::Instant::now()) {
        Ok(grant) => {
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        Err(Denied::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid API token is needed (Authorization: Bearer ...)\n",
        )
            .into_response(),
        Err(Denied::TooMany) => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong tokens from this address: wait a minute\n",
        )
            .into_response(),
    }
}

/// `/health` and `/metrics`: open to loopback (and to all when so
/// configured), else a token like the API.
async fn loopback_or_token(State(api): State<Api>, req: Request, next: Next) -> Response {
    if api.open_health_and_metrics || peer_of(&req).is_loopback() {
        return next.run(req).await;
    }
    require_token(State(api), req, next).await
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

pub(crate) async fn ask<T>(
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
async fn health(State(api): State<Api>) -> Response {
    match tokio::time::timeout(HEALTH_WAIT, ask(&api.events, Query::Status)).await {
        Ok(Ok(_)) => "ok\n".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "core not answering\n").into_response(),
    }
}

/// The switch's counters: for tokens of every tenant only.
async fn status(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
) -> Result<Json<crate::event::Status>, StatusCode> {
    if grant.tenant.is_some() {
        return Err(StatusCode::FORBIDDEN);
    }
    ask(&api.events, Query::Status).await.map(Json)
}

async fn registrations(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
) -> Result<Json<Vec<accounts::Binding>>, StatusCode> {
    let mut list = ask(&api.events, Query::Bindings).await?;
    list.retain(|b| grant.sees(&b.tenant));
    Ok(Json(list))
}

async fn parked(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
) -> Result<Json<Vec<switch::ParkedInfo>>, StatusCode> {
    let mut list = ask(&api.events, Query::Parked).await?;
    list.retain(|p| grant.sees(&p.tenant));
    Ok(Json(list))
}

/// The API described (OpenAPI 3); the suite checks every route it names
/// answers and every route answers in it.
const OPENAPI: &str = include_str!("../assets/openapi.json");

/// Every route of the API: (method, path as OpenAPI writes it). The
/// router's routes, listed once more for the document's test.
#[cfg(test)]
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("get", "/api/status"),
    ("get", "/api/registrations"),
    ("get", "/api/parked"),
    ("get", "/api/events"),
    ("get", "/api/calls"),
    ("get", "/api/records"),
    ("delete", "/api/calls/{id}"),
    ("post", "/api/parked/{tenant}/{position}/move"),
    ("post", "/api/parked/{tenant}/{position}/retrieve"),
    ("get", "/api/tenants"),
    ("post", "/api/tenants"),
    ("get", "/api/tenants/{tenant}"),
    ("put", "/api/tenants/{tenant}"),
    ("delete", "/api/tenants/{tenant}"),
    ("get", "/api/trunks"),
    ("post", "/api/trunks"),
    ("get", "/api/trunks/{name}"),
    ("put", "/api/trunks/{name}"),
    ("delete", "/api/trunks/{name}"),
    ("get", "/api/tenants/{tenant}/extensions"),
    ("post", "/api/tenants/{tenant}/extensions"),
    ("get", "/api/tenants/{tenant}/extensions/{number}"),
    ("put", "/api/tenants/{tenant}/extensions/{number}"),
    ("delete", "/api/tenants/{tenant}/extensions/{number}"),
    ("get", "/api/tenants/{tenant}/dids"),
    ("post", "/api/tenants/{tenant}/dids"),
    ("delete", "/api/tenants/{tenant}/dids/{number}"),
];

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The Prometheus text exposition.
async fn metrics(State(api): State<Api>) -> Result<Response, StatusCode> {
    let mut snap = ask(&api.events, Query::Metrics).await?;
    snap.events_dropped = api.stream.dropped();
    snap.webhook_delivered = api
        .webhooks
        .delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    snap.webhook_dropped = api
        .webhooks
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let text = crate::metrics::render(&api.metrics, &snap);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `?tenant=` of the event stream.
#[derive(serde::Deserialize)]
struct StreamFilter {
    tenant: Option<String>,
}

/// The switch's events as server-sent events, one JSON object each
/// (`event: type` names it), optionally of one tenant.
async fn event_stream(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Params(filter): Params<StreamFilter>,
) -> Result<
    Sse<impl futures_util::Stream<Item = Result<sse::Event, std::convert::Infallible>>>,
    StatusCode,
> {
    // A tenant's token sees its tenant's events only.
    let tenant = match (grant.tenant, filter.tenant) {
        (Some(mine), Some(asked)) if mine != asked => return Err(StatusCode::FORBIDDEN),
        (Some(mine), _) => Some(mine),
        (None, asked) => asked,
    };
    let rx = api.stream.subscribe();
    let state = (rx, api.stream, tenant);
    let events = futures_util::stream::unfold(state, |(mut rx, stream, tenant)| async move {
        loop {
            match rx.recv().await {
                Ok(p) if tenant.as_ref().is_none_or(|t| *t == p.tenant) => {
                    let ev = sse::Event::default().data(p.json.clone());
                    return Some((Ok(ev), (rx, stream, tenant)));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    stream.missed(n);
                    let ev = sse::Event::default().comment(format!("missed {n} events"));
                    return Some((Ok(ev), (rx, stream, tenant)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn the_openapi_document_names_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        documented.sort();
        let mut routes: Vec<(String, String)> = super::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(documented, routes);
    }

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
