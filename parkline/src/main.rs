//! The `parkline` binary: configuration, CLI, and the tokio shell around the
//! sans-IO cores.

mod admin;
mod cli;
mod config;
mod event;
mod event_stream;
mod http;
mod media_io;
mod metrics;
mod persist;
mod provision;
mod raw_send;
mod serve;
mod shell;
mod sounds;
mod timer;
mod transport;
mod webhooks;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use config::{Config, DEMO};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::SqliteStore;

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

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    let cfg = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            eprintln!("parkline: the configuration has errors; not starting");
            return Ok(ExitCode::from(2));
        }
    };
    let db: PathBuf = cli
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from(&cfg.store.path));
    match cli.command {
        Command::Serve => {
            init_logging(&cfg.log.level);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve::serve(cfg, &db))?;
        }
        Command::Tenant(c) => admin::tenant(&mut open(&db)?, c)?,
        Command::Extension(c) => admin::extension(&mut open(&db)?, c)?,
        Command::Did(c) => admin::did(&mut open(&db)?, c)?,
        Command::Trunk(c) => admin::trunk(&mut open(&db)?, c)?,
        Command::Registrations { tenant } => admin::registrations(&open(&db)?, tenant.as_deref())?,
        Command::Parked { tenant } => admin::parked(&open(&db)?, tenant.as_deref())?,
        Command::Calls {
            tenant,
            limit,
            json,
        } => admin::calls(&open(&db)?, tenant.as_deref(), limit, json)?,
        Command::CheckConfig { .. } | Command::DefaultConfig => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn open(db: &Path) -> Result<SqliteStore> {
    SqliteStore::open(db).with_context(|| format!("cannot open the store at {}", db.display()))
}
