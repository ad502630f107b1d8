//! The write API for provisioning: list, create, change and delete a
//! tenant's extensions, and its DIDs, over REST with JSON bodies. The same
//! rules as the CLI and the configuration (`accounts::rules`) decide, and a
//! refusal names the field. Writes go to the store from a blocking task
//! (never the core's), and the core gets the new directory at once.
//! Extensions the configuration file provisions are changed there, not
//! here (409). A tenant's token reaches only its tenant; a read-only token
//! only reads.

use crate::access::Grant;
use crate::event::Event;
use crate::http::Api;
use accounts::{rules, Extension, Source};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension as Ext, Json, Router};
use serde::{Deserialize, Serialize};
use store::Store;

/// The routes, under `/api`.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/tenants/:tenant/extensions", get(list).post(create))
        .route(
            "/api/tenants/:tenant/extensions/:number",
            get(show).put(change).delete(remove),
        )
        .route("/api/tenants/:tenant/dids", get(list_dids).post(create_did))
        .route(
            "/api/tenants/:tenant/dids/:number",
            axum::routing::delete(remove_did),
        )
}

/// An extension as the API shows it (never its password or digests).
#[derive(Debug, Serialize)]
pub struct ExtensionView {
    tenant: String,
    number: String,
    name: String,
    enabled: bool,
    can_call_out: bool,
    can_park: bool,
    can_retrieve: bool,
    /// `config` (the configuration file) or `manual` (CLI, API).
    source: &'static str,
}

impl From<&Extension> for ExtensionView {
    fn from(e: &Extension) -> Self {
        ExtensionView {
            tenant: e.tenant.clone(),
            number: e.number.clone(),
            name: e.name.clone(),
            enabled: e.enabled,
            can_call_out: e.can_call_out,
            can_park: e.can_park,
            can_retrieve: e.can_retrieve,
            source: e.source.as_str(),
        }
    }
}

/// A new extension.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExtension {
    number: String,
    #[serde(default)]
    name: String,
    password: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "yes")]
    can_call_out: bool,
    #[serde(default = "yes")]
    can_park: bool,
    #[serde(default = "yes")]
    can_retrieve: bool,
}

/// What a change may set (absent: unchanged).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionChange {
    name: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    can_call_out: Option<bool>,
    can_park: Option<bool>,
    can_retrieve: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A refusal: its status, and its message naming the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    field: Option<&'static str>,
    error: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: None,
            error: error.into(),
        }
    }

    pub(crate) fn field(field: &'static str, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some(field),
            error: error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "field": self.field });
        (self.status, Json(body)).into_response()
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, what),
            store::StoreError::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, what),
            e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")),
        }
    }
}

/// Whether `grant` reaches `tenant` (and may write, when `write`).
pub(crate) fn allowed(grant: &Grant, tenant: &str, write: bool) -> Result<(), ApiError> {
    if !grant.sees(tenant) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this token is for tenant '{}' only",
                grant.tenant.as_deref().unwrap_or("")
            ),
        ));
    }
    if write && grant.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this token is read-only",
        ));
    }
    Ok(())
}

/// Runs `f` on the store off the async threads; after a write, the core
/// gets the new directory.
pub(crate) async fn with_store<T: Send + 'static>(
    api: &Api,
    write: bool,
    f: impl FnOnce(&mut dyn Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = api.db.clone();
    let (result, dir) = tokio::task::spawn_blocking(move || {
        let mut store = db.open()?;
        let result = f(store.as_mut())?;
        let dir = if write {
            Some(store.load_directory()?)
        } else {
            None
        };
        Ok::<_, ApiError>((result, dir))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    if let Some(dir) = dir {
        let _ = api.events.send(Event::Directory(Box::new(dir))).await;
    }
    Ok(result)
}

pub(crate) fn tenant_of(store: &dyn Store, name: &str) -> Result<accounts::Tenant, ApiError> {
    store
        .tenants()?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no tenant named '{name}'")))
}

fn extension_of(store: &dyn Store, tenant: &str, number: &str) -> Result<Extension, ApiError> {
    store
        .extensions(Some(tenant))?
        .into_iter()
        .find(|e| e.number == number)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("tenant '{tenant}' has no extension {number}"),
            )
        })
}

/// Refuses to change what the configuration file provisions.
fn not_from_config(e: &Extension) -> Result<(), ApiError> {
    if e.source == Source::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "extension {} is provisioned by the configuration file: change it there",
                e.number
            ),
        ));
    }
    Ok(())
}

async fn list(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<ExtensionView>>, ApiError> {
    allowed(&grant, &tenant, false)?;
    with_store(&api, false, move |store| {
        tenant_of(store, &tenant)?;
        Ok(Json(
            store
                .extensions(Some(&tenant))?
                .iter()
                .map(ExtensionView::from)
                .collect(),
        ))
    })
    .await
}

async fn show(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<Json<ExtensionView>, ApiError> {
    allowed(&grant, &tenant, false)?;
    with_store(&api, false, move |store| {
        Ok(Json(ExtensionView::from(&extension_of(
            store, &tenant, &number,
        )?)))
    })
    .await
}

async fn create(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
    Json(new): Json<NewExtension>,
) -> Result<(StatusCode, Json<ExtensionView>), ApiError> {
    allowed(&grant, &tenant, true)?;
    rules::extension_number(&new.number).map_err(|why| ApiError::field("number", why))?;
    rules::password(&new.password)
        .map_err(|why| ApiError::field("password", format!("the extension {why}")))?;
    with_store(&api, true, move |store| {
        let t = tenant_of(store, &tenant)?;
        rules::outside_prefixes(&new.number, &t.park_prefix, &t.release_prefix)
            .map_err(|why| ApiError::field("number", why))?;
        if extension_of(store, &tenant, &new.number).is_ok() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("extension {} exists: PUT to change it", new.number),
            ));
        }
        let mut e = crate::provision::extension_record(
            &t,
            &new.number,
            &new.name,
            &new.password,
            Source::Manual,
        );
        e.enabled = new.enabled;
        e.can_call_out = new.can_call_out;
        e.can_park = new.can_park;
        e.can_retrieve = new.can_retrieve;
        store.upsert_extension(&e)?;
        Ok((StatusCode::CREATED, Json(ExtensionView::from(&e))))
    })
    .await
}

async fn change(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path((tenant, number)): Path<(String, String)>,
    Json(change): Json<ExtensionChange>,
) -> Result<Json<ExtensionView>, ApiError> {
    allowed(&grant, &tenant, true)?;
    if let Some(p) = &change.password {
        rules::password(p)
            .map_err(|why| ApiError::field("password", format!("the extension {why}")))?;
    }
    with_store(&api, true, move |store| {
        let t = tenant_of(store, &tenant)?;
        let old = extension_of(store, &tenant, &number)?;
        not_from_config(&old)?;
        let mut e = match &change.password {
            Some(p) => {
                let name = change.name.as_deref().unwrap_or(&old.name);
                let mut fresh =
                    crate::provision::extension_record(&t, &number, name, p, Source::Manual);
                fresh.outbound = old.outbound;
                fresh
            }
            None => old.clone(),
        };
        e.name = change.name.clone().unwrap_or(e.name);
        e.enabled = change.enabled.unwrap_or(old.enabled);
        e.can_call_out = change.can_call_out.unwrap_or(old.can_call_out);
        e.can_park = change.can_park.unwrap_or(old.can_park);
        e.can_retrieve = change.can_retrieve.unwrap_or(old.can_retrieve);
        store.upsert_extension(&e)?;
        Ok(Json(ExtensionView::from(&e)))
    })
    .await
}

async fn remove(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed(&grant, &tenant, true)?;
    with_store(&api, true, move |store| {
        let old = extension_of(store, &tenant, &number)?;
        not_from_config(&old)?;
        store.delete_extension(&tenant, &number)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A DID as the API shows it and takes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidView {
    /// The external number (digits, optional leading `+`).
    number: String,
    /// The extension it rings.
    extension: String,
    /// `config` or `manual` (ignored when given).
    #[serde(default, skip_deserializing)]
    source: &'static str,
}

async fn list_dids(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<DidView>>, ApiError> {
    allowed(&grant, &tenant, false)?;
    with_store(&api, false, move |store| {
        tenant_of(store, &tenant)?;
        let dids = store.dids(Some(&tenant))?;
        Ok(Json(
            dids.into_iter()
                .map(|d| DidView {
                    number: d.number,
                    extension: d.extension,
                    source: d.source.as_str(),
                })
                .collect(),
        ))
    })
    .await
}

async fn create_did(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
    Json(new): Json<DidView>,
) -> Result<(StatusCode, Json<DidView>), ApiError> {
    allowed(&grant, &tenant, true)?;
    rules::did_number(&new.number).map_err(|why| ApiError::field("number", why))?;
    with_store(&api, true, move |store| {
        tenant_of(store, &tenant)?;
        extension_of(store, &tenant, &new.extension).map_err(|_| {
            ApiError::field(
                "extension",
                format!("tenant '{tenant}' has no extension {}", new.extension),
            )
        })?;
        if store.dids(None)?.iter().any(|d| d.number == new.number) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("DID {} is in use", new.number),
            ));
        }
        store.upsert_did(&accounts::Did {
            number: new.number.clone(),
            tenant: tenant.clone(),
            extension: new.extension.clone(),
            source: Source::Manual,
        })?;
        Ok((
            StatusCode::CREATED,
            Json(DidView {
                source: Source::Manual.as_str(),
                ..new
            }),
        ))
    })
    .await
}

async fn remove_did(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed(&grant, &tenant, true)?;
    with_store(&api, true, move |store| {
        let did = store
            .dids(Some(&tenant))?
            .into_iter()
            .find(|d| d.number == number)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("tenant '{tenant}' has no DID {number}"),
                )
            })?;
        if did.source == Source::Config {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("DID {number} is provisioned by the configuration file: change it there"),
            ));
        }
        store.delete_did(&tenant, &number)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
