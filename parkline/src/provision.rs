//! Declarative provisioning: the config's tenants, extensions, DIDs and trunks
//! synced into the store at start (idempotent; config items dropped from the
//! file are removed, items added by the CLI are kept).

use crate::config::Config;
use accounts::{Did, Extension, Source, Tenant, Trunk};
use sip::digest::Algorithm;
use store::{ConfigKeys, Store};
use switch::ha1;

/// Counts of what a sync wrote.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Tenants upserted.
    pub tenants: usize,
    /// Extensions upserted.
    pub extensions: usize,
    /// DIDs upserted.
    pub dids: usize,
    /// Trunks upserted.
    pub trunks: usize,
    /// Config-sourced items removed.
    pub removed: usize,
}

/// An extension record with its digest hashes for the tenant's realm.
pub fn extension_record(
    tenant: &Tenant,
    number: &str,
    name: &str,
    password: &str,
    source: Source,
) -> Extension {
    Extension {
        tenant: tenant.name.clone(),
        number: number.to_string(),
        name: name.to_string(),
        ha1_md5: ha1(Algorithm::Md5, number, &tenant.domain, password),
        ha1_sha256: ha1(Algorithm::Sha256, number, &tenant.domain, password),
        enabled: true,
        can_call_out: true,
        can_park: true,
        can_retrieve: true,
        outbound: accounts::OutboundLimits::EXTENSION,
        source,
    }
}

/// Writes the config's accounts into the store.
pub fn sync(cfg: &Config, store: &mut dyn Store) -> store::Result<SyncReport> {
    let mut report = SyncReport::default();
    let mut keep = ConfigKeys::default();
    for t in &cfg.tenants {
        let tenant = Tenant {
            name: t.name.get_ref().clone(),
            domain: t.domain.get_ref().to_ascii_lowercase(),
            park_prefix: t.park_prefix.get_ref().clone(),
            release_prefix: t.release_prefix.get_ref().clone(),
            park_timeout_s: t.park_timeout_s,
            park_comeback_ring_s: t.park_comeback_ring_s,
            park_code_length: *t.park_code_length.get_ref(),
            park_fallback: t.park_fallback.as_ref().map(|f| f.get_ref().clone()),
            outbound: accounts::OutboundLimits {
                max_calls: t.max_outbound_calls,
                max_calls_per_minute: t.max_outbound_calls_per_minute,
            },
            destinations: accounts::Destinations {
                allow: t
                    .outbound_allow
                    .iter()
                    .map(|p| p.get_ref().clone())
                    .collect(),
                deny: t
                    .outbound_deny
                    .iter()
                    .map(|p| p.get_ref().clone())
                    .collect(),
            },
            srtp: t
                .srtp
                .as_ref()
                .and_then(|p| accounts::SrtpPolicy::parse(p.get_ref())),
            park_alerts: t.park_alerts,
            park_rearm_s: *t.park_rearm_s.get_ref(),
            lamp_identities: t.lamp_identities,
            source: Source::Config,
        };
        store.upsert_tenant(&tenant)?;
        report.tenants += 1;
        keep.tenants.push(tenant.name.clone());
        for e in &t.extensions {
            let mut ext = extension_record(
                &tenant,
                e.number.get_ref(),
                &e.name,
                e.password.get_ref(),
                Source::Config,
            );
            ext.enabled = e.enabled;
            ext.can_call_out = e.can_call_out;
            ext.can_park = e.can_park;
            ext.can_retrieve = e.can_retrieve;
            ext.outbound = accounts::OutboundLimits {
                max_calls: e.max_outbound_calls,
                max_calls_per_minute: e.max_outbound_calls_per_minute,
            };
            store.upsert_extension(&ext)?;
            report.extensions += 1;
            keep.extensions.push((tenant.name.clone(), ext.number));
        }
        for d in &t.dids {
            let did = Did {
                number: d.number.get_ref().clone(),
                tenant: tenant.name.clone(),
                extension: d.extension.get_ref().clone(),
                source: Source::Config,
            };
            store.upsert_did(&did)?;
            report.dids += 1;
            keep.dids.push(did.number);
        }
    }
    for tr in &cfg.trunks {
        let trunk = Trunk {
            name: tr.name.get_ref().clone(),
            address: tr.address.get_ref().clone(),
            tenant: tr.tenant.get_ref().clone(),
            auth: tr
                .username
                .as_ref()
                .zip(tr.password.as_ref())
                .map(|(u, p)| accounts::TrunkAuth {
                    username: u.get_ref().clone(),
                    password: p.get_ref().clone(),
                    register_s: tr.register_expires_s.as_ref().map(|r| *r.get_ref()),
                }),
            tls_name: tr.tls_client_name.as_ref().map(|n| n.get_ref().clone()),
            source: Source::Config,
        };
        store.upsert_trunk(&trunk)?;
        report.trunks += 1;
        keep.trunks.push(trunk.name);
    }
    report.removed = store.prune_config_items(&keep)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEMO;

    #[test]
    fn sync_is_idempotent() {
        let cfg = Config::parse("demo.toml", DEMO).unwrap();
        let mut s = store::SqliteStore::in_memory().unwrap();
        let first = sync(&cfg, &mut s).unwrap();
        let dir1 = format!("{:?}", s.extensions(None).unwrap());
        let second = sync(&cfg, &mut s).unwrap();
        assert_eq!(first.extensions, second.extensions);
        assert_eq!(second.removed, 0);
        assert_eq!(dir1, format!("{:?}", s.extensions(None).unwrap()));
        let dir = s.load_directory().unwrap();
        assert_eq!(
            dir.tenant_by_domain("beta.parkline.test")
                .unwrap()
                .park_prefix,
            "644"
        );
        assert!(!dir.extension("demo", "555").unwrap().can_park);
    }
}
