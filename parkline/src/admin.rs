//! The provisioning subcommands: list and add accounts in the store.

use crate::cli::{DidCmd, ExtensionCmd, TenantCmd, TrunkCmd};
use crate::provision::extension_record;
use accounts::{rules, Did, Source, Tenant, Trunk};
use anyhow::{bail, Context, Result};
use store::Store;

/// `parkline tenant ...`
pub fn tenant(store: &mut dyn Store, cmd: TenantCmd) -> Result<()> {
    match cmd {
        TenantCmd::List => {
            println!(
                "{:<12} {:<28} {:<6} {:<6}",
                "NAME", "DOMAIN", "PARK", "RELEASE"
            );
            for t in store.tenants()? {
                println!(
                    "{:<12} {:<28} {:<6} {:<6}",
                    t.name, t.domain, t.park_prefix, t.release_prefix
                );
            }
        }
        TenantCmd::Add(a) => {
            if sip::Host::parse(a.domain.as_bytes()).is_none() {
                bail!("'{}' is not a valid domain", a.domain);
            }
            rules::prefixes(&a.park_prefix, &a.release_prefix).map_err(anyhow::Error::msg)?;
            // Changed prefixes must not swallow an extension of the tenant.
            for e in store.extensions(Some(&a.name))? {
                rules::outside_prefixes(&e.number, &a.park_prefix, &a.release_prefix)
                    .map_err(anyhow::Error::msg)?;
            }
            let domain = a.domain.to_ascii_lowercase();
            if let Some(old) = store.tenants()?.into_iter().find(|t| t.name == a.name) {
                if old.domain != domain {
                    let n = store.extensions(Some(&a.name))?.len();
                    rules::domain_change(&a.name, &old.domain, n).map_err(anyhow::Error::msg)?;
                }
            }
            let mut t = Tenant::new(&a.name, &domain);
            t.park_prefix = a.park_prefix;
            t.release_prefix = a.release_prefix;
            store.upsert_tenant(&t)?;
            println!("tenant '{}' saved", t.name);
        }
    }
    Ok(())
}

/// `parkline extension ...`
pub fn extension(store: &mut dyn Store, cmd: ExtensionCmd) -> Result<()> {
    match cmd {
        ExtensionCmd::List { tenant } => {
            println!(
                "{:<10} {:<8} {:<24} {:<8} PERMISSIONS",
                "TENANT", "NUMBER", "NAME", "ENABLED"
            );
            for e in store.extensions(tenant.as_deref())? {
                let perms: Vec<&str> = [
                    (e.can_call_out, "call-out"),
                    (e.can_park, "park"),
                    (e.can_retrieve, "retrieve"),
                ]
                .into_iter()
                .filter_map(|(ok, name)| ok.then_some(name))
                .collect();
                println!(
                    "{:<10} {:<8} {:<24} {:<8} {}",
                    e.tenant,
                    e.number,
                    e.name,
                    e.enabled,
                    perms.join(",")
                );
            }
        }
        ExtensionCmd::Add(a) => {
            if has_extension(store, &a.tenant, &a.number)? {
                bail!(
                    "tenant '{}' has an extension {} already: `parkline extension set` changes it",
                    a.tenant,
                    a.number
                );
            }
            save_extension(store, a)?;
        }
        ExtensionCmd::Set(a) => {
            if !has_extension(store, &a.tenant, &a.number)? {
                bail!(
                    "tenant '{}' has no extension {}: `parkline extension add` makes it",
                    a.tenant,
                    a.number
                );
            }
            save_extension(store, a)?;
        }
    }
    Ok(())
}

fn has_extension(store: &dyn Store, tenant: &str, number: &str) -> Result<bool> {
    Ok(store
        .extensions(Some(tenant))?
        .iter()
        .any(|e| e.number == number))
}

/// Checks and saves an extension from `extension add` or `set`.
fn save_extension(store: &mut dyn Store, a: crate::cli::ExtensionAdd) -> Result<()> {
    rules::extension_number(&a.number).map_err(anyhow::Error::msg)?;
    rules::password(&a.password).map_err(|why| anyhow::anyhow!("the extension {why}"))?;
    let tenant = store
        .tenants()?
        .into_iter()
        .find(|t| t.name == a.tenant)
        .with_context(|| format!("no tenant named '{}'", a.tenant))?;
    rules::outside_prefixes(&a.number, &tenant.park_prefix, &tenant.release_prefix)
        .map_err(|why| anyhow::anyhow!("tenant '{}': {why}", tenant.name))?;
    let mut e = extension_record(&tenant, &a.number, &a.name, &a.password, Source::Manual);
    e.can_call_out = !a.no_call_out;
    e.can_park = !a.no_park;
    e.can_retrieve = !a.no_retrieve;
    e.enabled = !a.disabled;
    store.upsert_extension(&e)?;
    println!("extension {} of '{}' saved", e.number, e.tenant);
    Ok(())
}

/// `parkline did ...`
pub fn did(store: &mut dyn Store, cmd: DidCmd) -> Result<()> {
    match cmd {
        DidCmd::List { tenant } => {
            println!("{:<16} {:<10} EXTENSION", "NUMBER", "TENANT");
            for d in store.dids(tenant.as_deref())? {
                println!("{:<16} {:<10} {}", d.number, d.tenant, d.extension);
            }
        }
        DidCmd::Add {
            number,
            tenant,
            extension,
        } => {
            rules::did_number(&number).map_err(anyhow::Error::msg)?;
            store.upsert_did(&Did {
                number: number.clone(),
                tenant,
                extension,
                source: Source::Manual,
            })?;
            println!("DID {number} saved");
        }
    }
    Ok(())
}

/// `parkline trunk ...`
pub fn trunk(store: &mut dyn Store, cmd: TrunkCmd) -> Result<()> {
    match cmd {
        TrunkCmd::List => {
            println!("{:<12} {:<24} TENANT", "NAME", "ADDRESS");
            for t in store.trunks()? {
                println!("{:<12} {:<24} {}", t.name, t.address, t.tenant);
            }
        }
        TrunkCmd::Add {
            name,
            address,
            tenant,
        } => {
            if address.parse::<std::net::SocketAddr>().is_err() {
                bail!("trunk address '{address}' is not IP:PORT");
            }
            store.upsert_trunk(&Trunk {
                name: name.clone(),
                address,
                tenant,
                auth: None,
                tls_name: None,
                source: Source::Manual,
            })?;
            println!("trunk '{name}' saved");
        }
    }
    Ok(())
}

/// `parkline registrations`
pub fn registrations(store: &dyn Store, tenant: Option<&str>) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    println!(
        "{:<10} {:<8} {:<8} {:<24} CONTACT",
        "TENANT", "EXT", "EXPIRES", "SOURCE"
    );
    for b in store.bindings()? {
        if tenant.is_some_and(|t| t != b.tenant) || b.expires_at <= now {
            continue;
        }
        println!(
            "{:<10} {:<8} {:<8} {:<24} {}",
            b.tenant,
            b.extension,
            b.expires_at - now,
            b.source,
            b.contact
        );
    }
    Ok(())
}

/// `parkline calls`
/// How `parkline calls` prints records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// Aligned columns.
    Table,
    /// One JSON object per line.
    Json,
    /// RFC 4180 CSV with a header line.
    Csv,
}

pub fn calls(
    store: &dyn Store,
    tenant: Option<&str>,
    limit: usize,
    format: RecordFormat,
) -> Result<()> {
    let records = store.call_records(tenant, limit)?;
    if format == RecordFormat::Json {
        for r in records {
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    if format == RecordFormat::Csv {
        println!("{}", crate::record_csv::HEADER);
        for r in records {
            println!("{}", crate::record_csv::row(&r));
        }
        return Ok(());
    }
    let header = [
        "START (UTC)",
        "TENANT",
        "CALLER",
        "CALLEE",
        "TALKED",
        "OUTCOME",
        "TALK s",
        "SIP",
        "CAUSE",
        "FEATURES",
    ];
    let rows: Vec<[String; 10]> = records
        .iter()
        .map(|r| {
            let talk = r
                .answered_ms
                .map(|a| format!("{:.1}", r.ended_ms.saturating_sub(a) as f64 / 1000.0))
                .unwrap_or_default();
            [
                utc(r.started_ms),
                r.tenant.clone(),
                r.caller.clone(),
                r.callee.clone(),
                r.connected.clone(),
                r.outcome.as_str().to_string(),
                talk,
                r.status.to_string(),
                r.cause.clone(),
                r.features.clone(),
            ]
        })
        .collect();
    print_table(&header, &rows);
    Ok(())
}

/// `parkline parked`
pub fn parked(store: &dyn Store, tenant: Option<&str>, json: bool) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    if json {
        for p in store.parked(tenant)? {
            let line = serde_json::json!({
                "tenant": p.tenant,
                "position": p.position,
                "retrieval": p.retrieval,
                "parker": p.parker,
                "parked_party": p.parked_party,
                "since_ms": p.since_ms,
                "comeback_ms": p.deadline_ms,
            });
            println!("{line}");
        }
        return Ok(());
    }
    println!(
        "{:<10} {:<10} {:<12} {:<8} {:>8} {:>10}  PARKED PARTY",
        "TENANT", "POSITION", "RETRIEVE", "PARKER", "PARKED s", "COMEBACK s"
    );
    for p in store.parked(tenant)? {
        println!(
            "{:<10} {:<10} {:<12} {:<8} {:>8} {:>10}  {}",
            p.tenant,
            p.position,
            p.retrieval,
            p.parker,
            now.saturating_sub(p.since_ms) / 1000,
            p.deadline_ms.saturating_sub(now) / 1000,
            p.parked_party
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ExtensionAdd, TenantAdd};
    use store::SqliteStore;

    fn tenant_add(name: &str, park: &str, release: &str) -> TenantCmd {
        TenantCmd::Add(TenantAdd {
            name: name.into(),
            domain: format!("{name}.example"),
            park_prefix: park.into(),
            release_prefix: release.into(),
        })
    }

    fn extension_add(tenant: &str, number: &str) -> ExtensionCmd {
        ExtensionCmd::Add(ExtensionAdd {
            tenant: tenant.into(),
            number: number.into(),
            name: "Desk".into(),
            password: "secret-desk".into(),
            no_call_out: false,
            no_park: false,
            no_retrieve: false,
            disabled: false,
        })
    }

    /// The CLI refuses what the config check refuses.
    #[test]
    fn the_cli_obeys_the_account_rules() {
        let mut s = SqliteStore::in_memory().unwrap();
        let overlap = tenant(&mut s, tenant_add("beta", "*7", "*71")).unwrap_err();
        assert!(overlap.to_string().contains("overlap"), "{overlap}");
        tenant(&mut s, tenant_add("beta", "644", "645")).unwrap();
        let swallowed = extension(&mut s, extension_add("beta", "6441")).unwrap_err();
        assert!(
            swallowed.to_string().contains("feature prefix '644'"),
            "{swallowed}"
        );
        extension(&mut s, extension_add("beta", "6461")).unwrap();
        let hides = tenant(&mut s, tenant_add("beta", "646", "645")).unwrap_err();
        assert!(hides.to_string().contains("6461"), "{hides}");
        assert_eq!(s.extensions(Some("beta")).unwrap().len(), 1);
    }
}

/// Columns as wide as their widest cell, two spaces apart (the last not
/// padded).
fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC (civil from days,
/// H. Hinnant's algorithm).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn utc_times() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_796_149_913_123), "2026-12-01 18:31:53");
    }
}
