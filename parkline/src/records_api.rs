//! `GET /api/records`: call records, newest first, searched and scoped to
//! the token's tenant, as JSON or CSV (`?format=csv`, what the console's
//! export downloads).

use crate::access::Grant;
use crate::http::Api;
use accounts::CallRecord;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// Records read from the store at most per search (the newest).
const SCANNED: usize = 10_000;
/// Records answered at most.
pub const MAX_LIMIT: usize = 1000;

/// The query string of a search.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Words that must all appear (see `record_csv::matches`).
    #[serde(default)]
    pub q: String,
    /// How many, newest first (default 200, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The records `search` finds that `grant` may see; `Err` is a refusal.
pub async fn find(api: &Api, grant: &Grant, search: &Search) -> Result<Vec<CallRecord>, Response> {
    let tenant = match (&grant.tenant, &search.tenant) {
        (Some(mine), Some(asked)) if mine != asked => {
            return Err((StatusCode::FORBIDDEN, "another tenant's records\n").into_response())
        }
        (Some(mine), _) => Some(mine.clone()),
        (None, asked) => asked.clone(),
    };
    let limit = search.limit.unwrap_or(200).min(MAX_LIMIT);
    let q = search.q.clone();
    let db = api.db.clone();
    let found = tokio::task::spawn_blocking(move || {
        let store = db.open()?;
        let all = store.call_records(tenant.as_deref(), SCANNED)?;
        Ok::<_, store::StoreError>(
            all.into_iter()
                .filter(|r| crate::record_csv::matches(r, &q))
                .take(limit)
                .collect::<Vec<_>>(),
        )
    })
    .await;
    match found {
        Ok(Ok(records)) => Ok(records),
        Ok(Err(e)) => {
            Err((StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}\n")).into_response())
        }
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()),
    }
}

/// `GET /api/records`.
pub async fn records(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Query(search): Query<Search>,
) -> Response {
    let csv = match search.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({"error": "format is json or csv", "field": "format"})),
            )
                .into_response()
        }
    };
    let records = match find(&api, &grant, &search).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    if !csv {
        return Json(records).into_response();
    }
    let mut body = String::from(crate::record_csv::HEADER);
    body.push_str("\r\n");
    for r in &records {
        body.push_str(&crate::record_csv::row(r));
        body.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"parkline-calls.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}
