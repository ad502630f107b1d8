//! The in-memory index of accounts the switch reads on every request.

use crate::model::{Did, Extension, Tenant, Trunk};
use std::collections::HashMap;

/// Tenants, extensions, DIDs and trunks indexed for lookups.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    tenants: HashMap<String, Tenant>,
    by_domain: HashMap<String, String>,
    extensions: HashMap<(String, String), Extension>,
    dids: HashMap<String, Did>,
    trunks: Vec<Trunk>,
}

impl Directory {
    /// Builds the index.
    pub fn new(
        tenants: Vec<Tenant>,
        extensions: Vec<Extension>,
        dids: Vec<Did>,
        trunks: Vec<Trunk>,
    ) -> Directory {
        let by_domain = tenants
            .iter()
            .map(|t| (t.domain.to_ascii_lowercase(), t.name.clone()))
            .collect();
        Directory {
            tenants: tenants.into_iter().map(|t| (t.name.clone(), t)).collect(),
            by_domain,
            extensions: extensions
                .into_iter()
                .map(|e| ((e.tenant.clone(), e.number.clone()), e))
                .collect(),
            dids: dids.into_iter().map(|d| (d.number.clone(), d)).collect(),
            trunks,
        }
    }

    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name)
    }

    /// The tenant serving a SIP domain (case-insensitive).
    pub fn tenant_by_domain(&self, domain: &str) -> Option<&Tenant> {
        self.by_domain
            .get(&domain.to_ascii_lowercase())
            .and_then(|n| self.tenants.get(n))
    }

    /// An extension of a tenant.
    pub fn extension(&self, tenant: &str, number: &str) -> Option<&Extension> {
        self.extensions
            .get(&(tenant.to_string(), number.to_string()))
    }

    /// The DID record for an external number.
    pub fn did(&self, number: &str) -> Option<&Did> {
        self.dids.get(number)
    }

    /// The trunk at a peer address (`ip:port`).
    pub fn trunk_by_address(&self, address: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.address == address)
    }

    /// The trunk named `name`.
    pub fn trunk_named(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// Every trunk.
    pub fn trunks(&self) -> &[Trunk] {
        &self.trunks
    }

    /// The trunk that carries a tenant's external calls (the first by name).
    pub fn trunk_for_tenant(&self, tenant: &str) -> Option<&Trunk> {
        self.trunks
            .iter()
            .filter(|t| t.tenant == tenant)
            .min_by(|a, b| a.name.cmp(&b.name))
    }

    /// All tenants, sorted by name.
    pub fn tenants(&self) -> Vec<&Tenant> {
        let mut v: Vec<_> = self.tenants.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Number of extensions.
    pub fn extension_count(&self) -> usize {
        self.extensions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    #[test]
    fn lookups() {
        let t = Tenant::new("acme", "Acme.Example");
        let e = Extension {
            tenant: "acme".into(),
            number: "333".into(),
            name: "John Doe".into(),
            ha1_md5: "x".into(),
            ha1_sha256: "y".into(),
            enabled: true,
            can_call_out: true,
            can_park: true,
            can_retrieve: true,
            outbound: crate::OutboundLimits::EXTENSION,
            source: Source::Config,
        };
        let d = Directory::new(vec![t], vec![e], vec![], vec![]);
        assert_eq!(d.tenant_by_domain("acme.example").unwrap().name, "acme");
        assert!(d.extension("acme", "333").is_some());
        assert!(d.extension("acme", "444").is_none());
        assert!(!format!("{:?}", d).contains("ha1"), "secrets never printed");
    }
}
