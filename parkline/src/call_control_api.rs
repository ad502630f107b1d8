//! Call control for operators over the API: list live calls, hang one
//! up, move a parked call to another position, retrieve one to an
//! extension. Each asks the core and maps its refusal to a 4xx that names
//! the field; a tenant's token reaches only its tenant, a read-only token
//! changes nothing.

use crate::access::Grant;
use crate::event::Query;
use crate::http::{ask, Api};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// A refusal as JSON: `{"error", "field"}`.
fn refuse(status: StatusCode, field: Option<&str>, error: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "field": field })),
    )
        .into_response()
}

/// The refusal, if `grant` may not change `tenant`'s calls.
fn forbidden(grant: &Grant, tenant: &str) -> Option<Response> {
    if !grant.sees(tenant) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            None,
            "another tenant's token",
        ));
    }
    if grant.read_only {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            None,
            "this token is read-only",
        ));
    }
    None
}

/// The live calls the token may see.
pub async fn calls(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
) -> Result<Json<Vec<switch::LiveCall>>, StatusCode> {
    let mut list = ask(&api.events, Query::Calls).await?;
    list.retain(|c| grant.sees(&c.tenant));
    Ok(Json(list))
}

/// Hangs a call up: 204, or 404 if there is no such call the token sees.
pub async fn hang_up(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Path(id): axum::extract::Path<u64>,
) -> Response {
    if grant.read_only {
        return (StatusCode::FORBIDDEN, "this token is read-only\n").into_response();
    }
    let tenant = grant.tenant.clone();
    match ask(&api.events, |reply| Query::HangUp {
        call: id,
        tenant,
        reply,
    })
    .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no such call\n").into_response(),
        Err(s) => s.into_response(),
    }
}

/// `{"to": position}` of a move.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveTo {
    to: String,
}

/// Moves a parked call to another position: the call as it is parked
/// now, or 404 (nothing parked there), 409 (taken, here or on another node
/// of the cluster), 422 (not an extension), 503 (the shared store did not
/// answer the claim of the new position).
pub async fn move_parked(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Path((tenant, from)): Path<(String, String)>,
    Json(body): Json<MoveTo>,
) -> Response {
    if let Some(refused) = forbidden(&grant, &tenant) {
        return refused;
    }
    let to = body.to.clone();
    let moved = ask(&api.events, |reply| Query::MoveParked {
        tenant,
        from,
        to,
        reply,
    })
    .await;
    match moved {
        Ok(Ok(info)) => Json(info).into_response(),
        Ok(Err(switch::MoveRefusal::NothingParked)) => {
            refuse(StatusCode::NOT_FOUND, None, "nothing is parked there")
        }
        Ok(Err(switch::MoveRefusal::Taken)) => refuse(
            StatusCode::CONFLICT,
            Some("to"),
            "that position holds a call",
        ),
        Ok(Err(switch::MoveRefusal::NotAnExtension)) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("to"),
            "not an extension of this tenant (or a *code)",
        ),
        Ok(Err(switch::MoveRefusal::StoreUnavailable)) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the parking lot's store did not answer",
        ),
        Err(s) => s.into_response(),
    }
}

/// `{"extension": number}` of a retrieval by the operator.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTo {
    extension: String,
}

/// Retrieves a parked call to an extension: 202 `{"call", "ringing"}` while
/// its phones ring; 404 nothing parked, 409 not registered, 422 not an
/// extension.
pub async fn send_parked(
    State(api): State<Api>,
    Extension(grant): Extension<Grant>,
    Path((tenant, position)): Path<(String, String)>,
    Json(body): Json<SendTo>,
) -> Response {
    if let Some(refused) = forbidden(&grant, &tenant) {
        return refused;
    }
    let extension = body.extension.clone();
    let sent = ask(&api.events, |reply| Query::SendParked {
        tenant,
        position,
        extension,
        reply,
    })
    .await;
    match sent {
        Ok(Ok(call)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "call": call, "ringing": body.extension })),
        )
            .into_response(),
        Ok(Err(switch::SendRefusal::NothingParked)) => {
            refuse(StatusCode::NOT_FOUND, None, "nothing is parked there")
        }
        Ok(Err(switch::SendRefusal::NotRegistered)) => refuse(
            StatusCode::CONFLICT,
            Some("extension"),
            "that extension has no registered phone",
        ),
        Ok(Err(switch::SendRefusal::NotAnExtension)) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("extension"),
            "not an extension of this tenant",
        ),
        Err(s) => s.into_response(),
    }
}
