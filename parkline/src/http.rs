//! The admin HTTP API: health, status and registrations as JSON.

use crate::shell::{Event, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::{mpsc, oneshot};

/// The API's routes.
pub fn router(events: mpsc::Sender<Event>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/status", get(status))
        .route("/api/registrations", get(registrations))
        .route("/api/parked", get(parked))
        .with_state(events)
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

async fn status(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<crate::shell::Status>, StatusCode> {
    ask(&events, Query::Status).await.map(Json)
}

async fn registrations(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<Vec<accounts::Binding>>, StatusCode> {
    ask(&events, Query::Bindings).await.map(Json)
}

async fn parked(
    State(events): State<mpsc::Sender<Event>>,
) -> Result<Json<Vec<crate::shell::ParkedView>>, StatusCode> {
    ask(&events, Query::Parked).await.map(Json)
}
