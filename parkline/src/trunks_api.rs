//! The write API for trunks (the carriers the switch trusts by address):
//! list, create, change and delete them. A trunk decides which source
//! addresses are believed without a password, so only a writable token
//! for every tenant changes one; a tenant's token lists its own. The
//! carrier password is taken, never shown. Trunks the configuration file
//! provisions are changed there (409).

use crate::access::Grant;
use crate::http::Api;
use crate::provisioning_api::{with_store, ApiError};
use accounts::{Source, Trunk, TrunkAuth};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension as Ext, Json, Router};
use serde::{Deserialize, Serialize};
use store::Store;

/// The routes, under `/api`.
pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/trunks", get(list).post(create))
        .route("/api/trunks/:name", get(show).put(change).delete(remove))
}

/// A trunk as the API shows it (never the carrier password).
#[derive(Debug, Serialize)]
pub struct TrunkView {
    name: String,
    address: String,
    tenant: String,
    /// Username at the carrier, if the switch answers its challenges.
    username: Option<String>,
    /// Seconds between registrations at the carrier, if it registers.
    register_s: Option<u32>,
    /// `config` or `manual`.
    source: &'static str,
}

impl From<&Trunk> for TrunkView {
    fn from(t: &Trunk) -> Self {
        TrunkView {
            name: t.name.clone(),
            address: t.address.clone(),
            tenant: t.tenant.clone(),
            username: t.auth.as_ref().map(|a| a.username.clone()),
            register_s: t.auth.as_ref().and_then(|a| a.register_s),
            source: t.source.as_str(),
        }
    }
}

/// A create (`name`, `address`, `tenant` required) or a change (any).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    name: Option<String>,
    /// `IP:PORT`.
    address: Option<String>,
    tenant: Option<String>,
    /// Credentials for the carrier's challenges; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    auth: Option<Option<AuthBody>>,
}

/// A field that was given (`Some`), as a value or as `null` (`Some(None)`);
/// `default` makes an absent one `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `auth` of a trunk body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthBody {
    username: String,
    password: String,
    register_s: Option<u32>,
}

/// Writes need a writable token for every tenant.
fn operator(grant: &Grant) -> Result<(), ApiError> {
    if grant.tenant.is_some() || grant.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only a writable token for every tenant changes trunks",
        ));
    }
    Ok(())
}

fn trunk_of(store: &dyn Store, name: &str) -> Result<Trunk, ApiError> {
    store
        .trunks()?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no trunk named '{name}'")))
}

/// `t` with `body` applied and checked.
fn apply(store: &dyn Store, mut t: Trunk, body: TrunkBody) -> Result<Trunk, ApiError> {
    if let Some(a) = body.address {
        if a.parse::<std::net::SocketAddr>().is_err() {
            return Err(ApiError::field("address", format!("'{a}' is not IP:PORT")));
        }
        t.address = a;
    }
    if let Some(tenant) = body.tenant {
        if !store.tenants()?.iter().any(|x| x.name == tenant) {
            return Err(ApiError::field(
                "tenant",
                format!("no tenant named '{tenant}'"),
            ));
        }
        t.tenant = tenant;
    }
    match body.auth {
        None => {}
        Some(None) => t.auth = None,
        Some(Some(a)) => {
            if a.username.is_empty() {
                return Err(ApiError::field("auth.username", "must not be empty"));
            }
            if a.password.is_empty() {
                return Err(ApiError::field("auth.password", "must not be empty"));
            }
            t.auth = Some(TrunkAuth {
                username: a.username,
                password: a.password,
                register_s: a.register_s,
            });
        }
    }
    let clash = store
        .trunks()?
        .into_iter()
        .find(|o| o.name != t.name && o.address == t.address);
    if let Some(o) = clash {
        return Err(ApiError::field(
            "address",
            format!("trunk '{}' has the address {}", o.name, t.address),
        ));
    }
    Ok(t)
}

async fn list(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
) -> Result<Json<Vec<TrunkView>>, ApiError> {
    with_store(&api, false, move |store| {
        Ok(Json(
            store
                .trunks()?
                .iter()
                .filter(|t| grant.sees(&t.tenant))
                .map(TrunkView::from)
                .collect(),
        ))
    })
    .await
}

async fn show(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(name): Path<String>,
) -> Result<Json<TrunkView>, ApiError> {
    with_store(&api, false, move |store| {
        let t = trunk_of(store, &name)?;
        if !grant.sees(&t.tenant) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no trunk named '{name}'"),
            ));
        }
        Ok(Json(TrunkView::from(&t)))
    })
    .await
}

async fn create(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Json(mut body): Json<TrunkBody>,
) -> Result<(StatusCode, Json<TrunkView>), ApiError> {
    operator(&grant)?;
    let name = body.name.take().unwrap_or_default();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::field(
            "name",
            "a trunk needs a name of 1 to 64 characters",
        ));
    }
    for (field, given) in [
        ("address", body.address.is_some()),
        ("tenant", body.tenant.is_some()),
    ] {
        if !given {
            return Err(ApiError::field(field, format!("a new trunk needs {field}")));
        }
    }
    with_store(&api, true, move |store| {
        if trunk_of(store, &name).is_ok() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("trunk '{name}' exists: PUT to change it"),
            ));
        }
        let blank = Trunk {
            name,
            address: String::new(),
            tenant: String::new(),
            auth: None,
            tls_name: None,
            source: Source::Manual,
        };
        let t = apply(store, blank, body)?;
        store.upsert_trunk(&t)?;
        Ok((StatusCode::CREATED, Json(TrunkView::from(&t))))
    })
    .await
}

fn not_from_config(t: &Trunk) -> Result<(), ApiError> {
    if t.source == Source::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "trunk '{}' is provisioned by the configuration file: change it there",
                t.name
            ),
        ));
    }
    Ok(())
}

async fn change(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(name): Path<String>,
    Json(body): Json<TrunkBody>,
) -> Result<Json<TrunkView>, ApiError> {
    operator(&grant)?;
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::field("name", "a trunk's name cannot change"));
    }
    with_store(&api, true, move |store| {
        let old = trunk_of(store, &name)?;
        not_from_config(&old)?;
        let t = apply(store, old, body)?;
        store.upsert_trunk(&t)?;
        Ok(Json(TrunkView::from(&t)))
    })
    .await
}

async fn remove(
    State(api): State<Api>,
    Ext(grant): Ext<Grant>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    operator(&grant)?;
    with_store(&api, true, move |store| {
        not_from_config(&trunk_of(store, &name)?)?;
        store.delete_trunk(&name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
