//! Which tenant (PBX) a request is for.

use accounts::{Directory, Tenant};
use sip::{Host, Request};

/// The tenant named by the Request-URI host: by domain, or the default tenant
/// when the phone addressed the switch by IP address. `Err(realm)` when no
/// tenant serves the domain: the caller still challenges with that realm, so
/// nothing reveals which domains exist.
pub fn resolve<'d>(
    dir: &'d Directory,
    req: &Request,
    default_tenant: Option<&str>,
) -> Result<&'d Tenant, String> {
    let host = req.uri.host.as_ref();
    let name = host.map(Host::to_string).unwrap_or_default();
    if let Some(t) = dir.tenant_by_domain(&name) {
        return Ok(t);
    }
    let by_ip = host.is_some_and(|h| h.ip().is_some());
    match default_tenant.and_then(|d| dir.tenant(d)) {
        Some(t) if by_ip => Ok(t),
        _ => Err(name),
    }
}
