//! The write API for tenants: list, create, change and delete them. Only
//! a token for every tenant creates or deletes one; a tenant's token sees
//! and changes its own tenant's park settings. The CLI's rules decide
//! (valid domain, prefixes that do not overlap or swallow an extension),
//! and a refusal names the field. Tenants the configuration file
//! provisions are changed there (409); a tenant is deleted only once its
//! extensions, DIDs and trunks are (409 names what remains).

use crate::access::Grant;
use crate::http::Api;
use crate::provisioning_api::{allowed, tenant_of, with_store, ApiError};
use accounts::{rules, Source, Tenant};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension as Ext, Json, Router};
use serde::{Deserialize, Serialize};
use store::Store;

/// The routes, under `/api`.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/tenants", get(list).post(create))
        .route("/api/tenants/:tenant", get(show).put(change).delete(remove))
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize)]
pub struct TenantView {
    name: String,
    domain: String,
    park_prefix: String,
    release_prefix: String,
    park_timeout_s: u32,
    park_comeback_ring_s: u32,
    park_code_length: u8,
    park_fallback: Option<String>,
    park_alerts: bool,
    /// `config` or `manual`.
    source: &'static str,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        TenantView {
            name: t.name.clone(),
            domain: t.domain.clone(),
            park_prefix: t.park_prefix.clone(),
            release_prefix: t.release_prefix.clone(),
            park_timeout_s: t.park_timeout_s,
            park_comeback_ring_s: t.park_comeback_ring_s,
            park_code_length: t.park_code_length,
            park_fallback: t.park_fallback.clone(),
            park_alerts: t.park_alerts,
            source: t.source.as_str(),
        }
    }
}

/// The settings a create or change may give; unnamed ones keep their
/// value (a new tenant's: `Tenant::new`'s defaults).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    domain: Option<String>,
    park_prefix: Option<String>,
    release_prefix: Option<String>,
    park_timeout_s: Option<u32>,
    park_comeback_ring_s: Option<u32>,
    park_code_length: Option<u8>,
    /// An extension, or `""` for none.
    park_fallback: Option<String>,
    park_alerts: Option<bool>,
}

/// `POST /api/tenants`: a name and the settings (`domain` required).
#[derive(Debug, Deserialize)]
pub struct NewTenant {
    name: String,
    #[serde(flatten)]
    settings: TenantSettings,
}

/// The grant may create or delete tenants: every tenant's, writable.
fn operator(grant: &Grant) -> Result<(), ApiError> {
    if grant.tenant.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only a token for every tenant creates or deletes tenants",
        ));
    }
    if grant.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this token is read-only",
        ));
    }
    Ok(())
}

/// `t` with `s` applied, checked against the rules and `store`'s
/// extensions (a prefix must not swallow one, a fallback must exist).
fn apply(store: &dyn Store, mut t: Tenant, s: TenantSettings) -> Result<Tenant, ApiError> {
    if let Some(domain) = s.domain {
        if sip::Host::parse(domain.as_bytes()).is_none() {
            return Err(ApiError::field(
                "domain",
                format!("'{domain}' is not a valid domain"),
            ));
        }
        let domain = domain.to_ascii_lowercase();
        if domain != t.domain {
            rules::domain_change(&t.name, &t.domain, store.extensions(Some(&t.name))?.len())
                .map_err(|w| ApiError::field("domain", w))?;
        }
        t.domain = domain;
    }
    let field = if s.park_prefix.is_some() {
        "park_prefix"
    } else {
        "release_prefix"
    };
    t.park_prefix = s.park_prefix.unwrap_or(t.park_prefix);
    t.release_prefix = s.release_prefix.unwrap_or(t.release_prefix);
    rules::prefixes(&t.park_prefix, &t.release_prefix).map_err(|w| ApiError::field(field, w))?;
    let extensions = store.extensions(Some(&t.name))?;
    for e in &extensions {
        rules::outside_prefixes(&e.number, &t.park_prefix, &t.release_prefix)
            .map_err(|w| ApiError::field(field, w))?;
    }
    if let Some(v) = s.park_timeout_s {
        if !(1..=86_400).contains(&v) {
            return Err(ApiError::field(
                "park_timeout_s",
                "must be 1 to 86400 seconds",
            ));
        }
        t.park_timeout_s = v;
    }
    if let Some(v) = s.park_comeback_ring_s {
        if !(1..=600).contains(&v) {
            return Err(ApiError::field(
                "park_comeback_ring_s",
                "must be 1 to 600 seconds",
            ));
        }
        t.park_comeback_ring_s = v;
    }
    if let Some(v) = s.park_code_length {
        if !(2..=8).contains(&v) {
            return Err(ApiError::field("park_code_length", "must be 2 to 8 digits"));
        }
        t.park_code_length = v;
    }
    match s.park_fallback.as_deref() {
        None => {}
        Some("") => t.park_fallback = None,
        Some(n) if extensions.iter().any(|e| e.number == n) => {
            t.park_fallback = Some(n.to_string())
        }
        Some(n) => {
            return Err(ApiError::field(
                "park_fallback",
                format!("tenant '{}' has no extension {n}", t.name),
            ))
        }
    }
    t.park_alerts = s.park_alerts.unwrap_or(t.park_alerts);
    Ok(t)
}

async fn list(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    with_store(&api, false, move |store| {
        Ok(Json(
            store
                .tenants()?
                .iter()
                .filter(|t| grant.sees(&t.name))
                .map(TenantView::from)
                .collect(),
        ))
    })
    .await
}

async fn show(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    allowed(&grant, &tenant, false)?;
    with_store(&api, false, move |store| {
        Ok(Json(TenantView::from(&tenant_of(store, &tenant)?)))
    })
    .await
}

async fn create(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Json(new): Json<NewTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    operator(&grant)?;
    rules::tenant_name(&new.name).map_err(|w| ApiError::field("name", w))?;
    let Some(domain) = new.settings.domain.clone() else {
        return Err(ApiError::field("domain", "a new tenant needs a domain"));
    };
    with_store(&api, true, move |store| {
        if tenant_of(store, &new.name).is_ok() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("tenant '{}' exists: PUT to change it", new.name),
            ));
        }
        if store
            .tenants()?
            .iter()
            .any(|t| t.domain == domain.to_ascii_lowercase())
        {
            return Err(ApiError::field(
                "domain",
                format!("another tenant has the domain '{domain}'"),
            ));
        }
        let t = apply(store, Tenant::new(&new.name, &domain), new.settings)?;
        store.upsert_tenant(&t)?;
        Ok((StatusCode::CREATED, Json(TenantView::from(&t))))
    })
    .await
}

fn not_from_config(t: &Tenant) -> Result<(), ApiError> {
    if t.source == Source::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "tenant '{}' is provisioned by the configuration file: change it there",
                t.name
            ),
        ));
    }
    Ok(())
}

async fn change(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
    Json(settings): Json<TenantSettings>,
) -> Result<Json<TenantView>, ApiError> {
    allowed(&grant, &tenant, true)?;
    with_store(&api, true, move |store| {
        let old = tenant_of(store, &tenant)?;
        not_from_config(&old)?;
        if let Some(d) = &settings.domain {
            let taken = store
                .tenants()?
                .iter()
                .any(|t| t.name != tenant && t.domain == d.to_ascii_lowercase());
            if taken {
                return Err(ApiError::field(
                    "domain",
                    format!("another tenant has the domain '{d}'"),
                ));
            }
        }
        let t = apply(store, old, settings)?;
        store.upsert_tenant(&t)?;
        Ok(Json(TenantView::from(&t)))
    })
    .await
}

async fn remove(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    operator(&grant)?;
    with_store(&api, true, move |store| {
        not_from_config(&tenant_of(store, &tenant)?)?;
        store.delete_tenant(&tenant)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
