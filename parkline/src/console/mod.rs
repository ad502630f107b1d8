//! The live web console, on the admin API's listener: sign in with an API
//! token at `/login` (a session cookie after it), then pages for the
//! parking lots, live calls, registrations, call records and status.
//! Pages are rendered here; the one script (`assets/console/console.js`,
//! a plain ES module embedded in the binary) listens to `/api/events`
//! and fetches a page's fragment again when an event touches it, and
//! its buttons use the API with the session. No external assets.

mod html;
mod pages;
pub mod session;
pub mod status_history;

use crate::access::{Denied, Grant};
use crate::event::Query;
use crate::http::{ask, Api};
use axum::extract::FromRequest;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use pages::Page;
use session::Sessions;
use status_history::History;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the console keeps: its sessions and the status history.
#[derive(Default)]
pub struct Console {
    /// Signed-in browsers.
    pub sessions: Sessions,
    /// The status page's samples.
    pub history: Arc<Mutex<History>>,
}

const SCRIPT: &str = include_str!("../../assets/console/console.js");
const STYLE: &str = include_str!("../../assets/console/console.css");

/// The console's routes.
pub fn routes(api: Api) -> Router<Api> {
    let mut signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/parked") }))
        .route("/console/fragment/:page", get(fragment));
    for p in Page::ALL {
        signed_in = signed_in.route(
            &format!("/{}", p.path()),
            get(move |state, grant, query| page(state, grant, p, query)),
        );
    }
    let signed_in = signed_in
        .route("/logout", post(logout))
        .layer(middleware::from_fn_with_state(api, require_session));
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/console/assets/:file", get(asset))
        .merge(signed_in)
        .layer(middleware::from_fn(security_headers))
}

/// The session id of a request's cookie.
fn session_id(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::from_cookie_header)
        .map(str::to_string)
}

/// The grant of the request's session, if it has a live one.
pub fn session_grant(api: &Api, req: &Request) -> Option<Grant> {
    let id = session_id(req)?;
    api.console.sessions.grant(&id, Instant::now())
}

/// Pages need a session: without one, the browser goes to `/login`.
async fn require_session(State(api): State<Api>, mut req: Request, next: Next) -> Response {
    match session_grant(&api, &req) {
        Some(grant) => {
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        None => Redirect::to("/login").into_response(),
    }
}

/// What every console response carries: nothing from elsewhere may load,
/// no framing, no sniffing, no referrer.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn login_form() -> Html<String> {
    Html(pages::login(None))
}

/// The sign-in form's one field.
#[derive(serde::Deserialize)]
struct SignIn {
    token: String,
}

/// Checks the token like the API does (rate limited, logged); a good one
/// opens a session.
async fn login(State(api): State<Api>, req: Request) -> Response {
    let from = crate::http::peer_of(&req);
    let Ok(Form(form)) = Form::<SignIn>::from_request(req, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            Html(pages::login(Some("The form needs a token."))),
        )
            .into_response();
    };
    let bearer = format!("Bearer {}", form.token.trim());
    match api.access.check(Some(&bearer), from, Instant::now()) {
        Ok(grant) => {
            tracing::info!(token = %grant.name, %from, "console: signed in");
            let id = api.console.sessions.open(grant, Instant::now());
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, session::set_cookie(&id)),
                    (header::LOCATION, "/parked".to_string()),
                ],
            )
                .into_response()
        }
        Err(Denied::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            Html(pages::login(Some("That token is not valid."))),
        )
            .into_response(),
        Err(Denied::TooMany) => (
            StatusCode::TOO_MANY_REQUESTS,
            Html(pages::login(Some(
                "Too many wrong tokens from this address: wait a minute.",
            ))),
        )
            .into_response(),
    }
}

async fn logout(State(api): State<Api>, req: Request) -> Response {
    if let Some(id) = session_id(&req) {
        api.console.sessions.close(&id);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::clear_cookie()),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn page_named(name: &str) -> Option<Page> {
    Page::ALL.into_iter().find(|p| p.path() == name)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn page(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    page: Page,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    match render(&api, &grant, page, &query).await {
        Ok(fragment) => {
            Html(pages::layout(page, &grant, now_ms(), &query, &fragment)).into_response()
        }
        Err(refusal) => refusal,
    }
}

async fn fragment(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(page) = page_named(&name) else {
        return (StatusCode::NOT_FOUND, "no such fragment\n").into_response();
    };
    match render(&api, &grant, page, &query.unwrap_or_default()).await {
        Ok(fragment) => ([(header::CACHE_CONTROL, "no-store")], Html(fragment)).into_response(),
        Err(refusal) => refusal,
    }
}

/// The live part of `page` as `grant` may see it.
async fn render(api: &Api, grant: &Grant, page: Page, query: &str) -> Result<String, Response> {
    let unavailable = |s: StatusCode| s.into_response();
    let now = now_ms();
    Ok(match page {
        Page::Parked => {
            let mut list = ask(&api.events, Query::Parked).await.map_err(unavailable)?;
            list.retain(|p| grant.sees(&p.tenant));
            pages::parked(&list, grant, now)
        }
        Page::Calls => {
            let mut list = ask(&api.events, Query::Calls).await.map_err(unavailable)?;
            list.retain(|c| grant.sees(&c.tenant));
            pages::calls(&list, grant, now)
        }
        Page::Registrations => {
            let mut list = ask(&api.events, Query::Bindings)
                .await
                .map_err(unavailable)?;
            list.retain(|b| grant.sees(&b.tenant));
            pages::registrations(&list, now / 1000)
        }
        Page::Records => {
            let search = crate::records_api::Search {
                q: pages::search_words(query),
                ..Default::default()
            };
            let found = crate::records_api::find(api, grant, &search).await?;
            pages::records(&found)
        }
        Page::Status if grant.tenant.is_some() => {
            "<p class=\"empty\">The switch's figures need a token for every tenant.</p>".into()
        }
        Page::Status => {
            let history = api
                .console
                .history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .samples();
            pages::status(&history)
        }
    })
}
