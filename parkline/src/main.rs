//! The `parkline` binary: configuration, CLI, and the tokio shell around the
//! sans-IO cores.

mod access;
mod admin;
mod authorizer;
mod call_control_api;
mod claims;
mod cli;
mod config;
mod console;
mod datagram_batch;
mod event;
mod event_stream;
mod file_limit;
mod http;
mod media_io;
mod metrics;
mod persist;
mod provision;
mod provisioning_api;
mod raw_send;
mod record_csv;
mod records_api;
mod serve;
mod shell;
mod sounds;
mod tenants_api;
mod timer;
mod transport;
mod trunks_api;
mod webhooks;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use config::{Config, DEMO};
use std::path::Path;
use std::process::ExitCode;

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        None => Config::parse("<embedded demo config>", DEMO).map_err(|e| e.to_string()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
            Config::parse(&p.display().to_string(), &text).map_err(|e| e.to_string())
        }
    }
}

/// Logs to stderr: colours only on a terminal; `log.format = "json"` for
/// one JSON object per line (with the call's span fields).
fn init_logging(log: &config::LogSection) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if log.format == "json" {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// `parkline token add`: a new token, printed once; its hash appended to
/// the configuration file, or printed to paste there.
fn token_add(
    config: Option<&std::path::Path>,
    name: &str,
    tenant: Option<&str>,
    read_only: bool,
) -> Result<ExitCode> {
    let token = access::new_token();
    let mut block = format!(
        "\n[[http.tokens]]\nname = \"{name}\"\nhash = \"{}\"\n",
        access::hash_of(&token)
    );
    if let Some(t) = tenant {
        block.push_str(&format!("tenant = \"{t}\"\n"));
    }
    if read_only {
        block.push_str("read_only = true\n");
    }
    match config {
        Some(path) => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .with_context(|| format!("cannot append to {}", path.display()))?;
            f.write_all(block.as_bytes())?;
            println!("{token}");
            eprintln!(
                "token '{name}' added to {} (only its hash); restart the switch to use it",
                path.display()
            );
        }
        None => {
            println!("{token}");
            eprintln!("add this to the configuration's file and restart the switch:{block}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parkline: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::CheckConfig { file } = &cli.command {
        return Ok(match load_config(Some(file)) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} tenants, {} trunks)",
                    file.display(),
                    cfg.tenants.len(),
                    cfg.trunks.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::from(2)
            }
        });
    }
    if let Command::DefaultConfig = cli.command {
        print!("{DEMO}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Token(cli::TokenCmd::Add {
        name,
        tenant,
        read_only,
    }) = &cli.command
    {
        return token_add(cli.config.as_deref(), name, tenant.as_deref(), *read_only);
    }
    let cfg = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            eprintln!("parkline: the configuration has errors; not starting");
            return Ok(ExitCode::from(2));
        }
    };
    let db = match &cli.db {
        Some(path) => store::Location::Sqlite(path.clone()),
        None => cfg.store.location(),
    };
    // Where the store's location came from, for messages.
    let key = match &db {
        store::Location::Sqlite(_) => "store.path",
        store::Location::Postgres(_) => "store.url",
    };
    let origin = match (&cli.db, &cli.config) {
        (Some(_), _) => "--db".to_string(),
        (None, Some(c)) => format!("{key} of {}", c.display()),
        (None, None) => format!("{key} of the embedded demo configuration"),
    };
    let existing = || open_existing(&db, &origin);
    match cli.command {
        Command::Serve => {
            init_logging(&cfg.log);
            let mut cfg = cfg;
            if cli.config.is_none() {
                // The embedded demo: a fresh token each start, shown once.
                let token = access::new_token();
                println!("demo API token (all tenants): {token}");
                cfg.http.tokens.push(config::TokenConfig {
                    name: "demo".into(),
                    hash: toml::Spanned::new(0..0, access::hash_of(&token)),
                    tenant: None,
                    read_only: false,
                });
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let opened = serve::open_store(&cfg, &db)?;
            rt.block_on(serve::serve(cfg, opened))?;
        }
        Command::Tenant(c) => admin::tenant(existing()?.as_mut(), c)?,
        Command::Extension(c) => admin::extension(existing()?.as_mut(), c)?,
        Command::Did(c) => admin::did(existing()?.as_mut(), c)?,
        Command::Trunk(c) => admin::trunk(existing()?.as_mut(), c)?,
        Command::Registrations { tenant } => {
            let store = existing()?;
            if store.bindings()?.is_empty() {
                eprintln!("no registrations in {db} ({origin})");
            }
            admin::registrations(store.as_ref(), tenant.as_deref())?
        }
        Command::Parked { tenant, json } => {
            let store = existing()?;
            if store.parked(tenant.as_deref())?.is_empty() {
                eprintln!("no parked calls in {db} ({origin})");
            }
            admin::parked(store.as_ref(), tenant.as_deref(), json)?
        }
        Command::Calls {
            tenant,
            limit,
            json,
            csv,
        } => {
            let format = match (json, csv) {
                (true, _) => admin::RecordFormat::Json,
                (_, true) => admin::RecordFormat::Csv,
                _ => admin::RecordFormat::Table,
            };
            let store = existing()?;
            if store.call_records(tenant.as_deref(), 1)?.is_empty() {
                eprintln!("no call records in {db} ({origin})");
            }
            admin::calls(store.as_ref(), tenant.as_deref(), limit, format)?
        }
        Command::CheckConfig { .. } | Command::DefaultConfig | Command::Token(_) => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(db: &store::Location) -> Result<Box<dyn store::Store>> {
    db.open()
        .with_context(|| format!("cannot open the store at {db}"))
}

/// The store of a CLI command: it must exist (only `serve` makes one), so
/// a command run in the wrong folder says so instead of showing an empty
/// new database.
fn open_existing(db: &store::Location, origin: &str) -> Result<Box<dyn store::Store>> {
    if !db.exists() {
        anyhow::bail!(
            "no database at {db} ({origin}): start the switch once (`parkline serve`), or name the database with --db or the configuration with --config"
        );
    }
    open(db)
}
