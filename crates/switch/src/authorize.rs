//! Authorization and routing (the "billing" step): given who calls and what
//! they dialed, decide whether the call may proceed and where it goes. One
//! component with one entry point, so an external service can replace it.

use crate::registrar::Registrar;
use accounts::{Binding, Directory, Extension, Tenant, Trunk};

/// Who places a call.
#[derive(Clone, Debug)]
pub enum Caller {
    /// An authenticated extension.
    Extension(Extension),
    /// A trunk recognised by its address.
    Trunk(Trunk),
}

/// A call to authorize.
#[derive(Clone, Debug)]
pub struct CallRequest<'a> {
    /// The caller's tenant.
    pub tenant: &'a Tenant,
    /// The caller.
    pub caller: &'a Caller,
    /// The number dialed (Request-URI user, unescaped).
    pub dialed: &'a str,
}

/// Where a call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Every registered contact of an extension, rung in parallel.
    Extension {
        /// The callee.
        number: String,
        /// Display name of the callee.
        name: String,
        /// Its contacts.
        contacts: Vec<Binding>,
    },
    /// Out through a trunk.
    Trunk {
        /// The trunk.
        trunk: Trunk,
        /// The number to send.
        number: String,
    },
    /// To another node of the cluster, on the caller's behalf (a
    /// retrieval of a call that node holds).
    Node {
        /// The node's SIP address.
        address: std::net::SocketAddr,
        /// The number dialed (the retrieval number).
        number: String,
    },
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Proceed along this route.
    Route(Route),
    /// Refuse with a SIP status and a reason.
    Refuse(u16, &'static str),
}

/// Whether a dialed string is an external number (digits, optional `+`, 5+ digits).
fn is_external(dialed: &str) -> bool {
    let digits = dialed.strip_prefix('+').unwrap_or(dialed);
    digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The embedded authorizer, backed by the directory and the registrar.
pub fn decide(dir: &Directory, registrar: &Registrar, req: &CallRequest) -> Decision {
    let tenant = req.tenant;
    match req.caller {
        Caller::Trunk(_) => match dir.did(req.dialed).filter(|d| d.tenant == tenant.name) {
            Some(did) => to_extension(dir, registrar, tenant, &did.extension),
            None => Decision::Refuse(404, "Not Found"),
        },
        Caller::Extension(ext) => {
            if dir.extension(&tenant.name, req.dialed).is_some() {
                return to_extension(dir, registrar, tenant, req.dialed);
            }
            if !is_external(req.dialed) {
                return Decision::Refuse(404, "Not Found");
            }
            if !ext.can_call_out {
                return Decision::Refuse(403, "Not allowed to call external numbers");
            }
            if tenant.destinations.check(req.dialed).is_err() {
                return Decision::Refuse(403, "Destination not allowed");
            }
            match dir.trunk_for_tenant(&tenant.name) {
                Some(trunk) => Decision::Route(Route::Trunk {
                    trunk: trunk.clone(),
                    number: req.dialed.to_string(),
                }),
                None => Decision::Refuse(503, "No trunk for external calls"),
            }
        }
    }
}

fn to_extension(dir: &Directory, registrar: &Registrar, tenant: &Tenant, number: &str) -> Decision {
    let Some(ext) = dir.extension(&tenant.name, number) else {
        return Decision::Refuse(404, "Not Found");
    };
    if !ext.enabled {
        return Decision::Refuse(480, "Temporarily Unavailable");
    }
    let contacts = registrar.lookup(&tenant.name, number).to_vec();
    if contacts.is_empty() {
        return Decision::Refuse(480, "Temporarily Unavailable");
    }
    Decision::Route(Route::Extension {
        number: number.to_string(),
        name: ext.name.clone(),
        contacts,
    })
}

/// May this extension use a parking feature? Park and retrieve go through
/// here like calls do, so an external authorizer can decide them too.
pub fn decide_feature(
    dir: &Directory,
    tenant: &Tenant,
    caller: &Extension,
    feature: &crate::feature_code::Feature,
) -> Result<(), crate::feature_refusal::FeatureRefusal> {
    use crate::feature_code::Feature;
    use crate::feature_refusal::FeatureRefusal;
    if !caller.enabled || caller.tenant != tenant.name {
        return Err(FeatureRefusal::NotAllowed);
    }
    match feature {
        Feature::ParkAt(_) | Feature::ParkRandom | Feature::ParkInvalid(_) if !caller.can_park => {
            Err(FeatureRefusal::NotAllowedToPark)
        }
        Feature::ParkAt(e) if dir.extension(&tenant.name, e).is_none() => {
            Err(FeatureRefusal::NotAnExtension)
        }
        Feature::ParkInvalid(_) => Err(FeatureRefusal::NotAnExtension),
        Feature::RetrieveOwn | Feature::Retrieve(_) if !caller.can_retrieve => {
            Err(FeatureRefusal::NotAllowedToRetrieve)
        }
        _ => Ok(()),
    }
}
