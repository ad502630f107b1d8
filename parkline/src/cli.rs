//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Parkline: a SIP softswitch (PBX) with call parking.
#[derive(Debug, Parser)]
#[command(name = "parkline", version, about)]
pub struct Cli {
    /// Configuration file (default: the embedded demo configuration).
    #[arg(long, short, global = true, env = "PARKLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database file (default: store.path of the configuration).
    #[arg(long, global = true, env = "PARKLINE_DB")]
    pub db: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the switch.
    Serve,
    /// Validate a configuration file and report every problem with its line.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Print the embedded default (demo) configuration.
    DefaultConfig,
    /// List or add tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// List or add extensions.
    #[command(subcommand)]
    Extension(ExtensionCmd),
    /// List or add DIDs.
    #[command(subcommand)]
    Did(DidCmd),
    /// List or add trunks.
    #[command(subcommand)]
    Trunk(TrunkCmd),
    /// List parked calls.
    Parked {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// As JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// List call records, newest first.
    Calls {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// As JSON lines.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// As CSV (a header line, then one record per line).
        #[arg(long)]
        csv: bool,
    },
    /// List current registrations (bindings).
    Registrations {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Make admin API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
}

/// `parkline token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a new token: printed once; its hash goes into the
    /// configuration file (`--config`), or is printed to paste there.
    Add {
        /// Who holds it.
        #[arg(long)]
        name: String,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Reads only.
        #[arg(long)]
        read_only: bool,
    },
}

/// `parkline tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// List tenants.
    List,
    /// Add (or update) a tenant.
    Add(TenantAdd),
}

/// Arguments of `tenant add`.
#[derive(Debug, Args)]
pub struct TenantAdd {
    /// Short name.
    #[arg(long)]
    pub name: String,
    /// SIP domain.
    #[arg(long)]
    pub domain: String,
    /// Parking prefix.
    #[arg(long, default_value = "*70")]
    pub park_prefix: String,
    /// Release prefix.
    #[arg(long, default_value = "*71")]
    pub release_prefix: String,
}

/// `parkline extension ...`
#[derive(Debug, Subcommand)]
pub enum ExtensionCmd {
    /// List extensions.
    List {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Add an extension (refused if the number exists: use `set`).
    Add(ExtensionAdd),
    /// Change an existing extension (every field given anew).
    Set(ExtensionAdd),
}

/// Arguments of `extension add`.
#[derive(Debug, Args)]
pub struct ExtensionAdd {
    /// Tenant name.
    #[arg(long)]
    pub tenant: String,
    /// Extension number.
    #[arg(long)]
    pub number: String,
    /// Display name.
    #[arg(long, default_value = "")]
    pub name: String,
    /// SIP password (or set PARKLINE_PASSWORD to keep it out of shell history).
    #[arg(long, env = "PARKLINE_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Disallow calls to external numbers.
    #[arg(long)]
    pub no_call_out: bool,
    /// Disallow parking.
    #[arg(long)]
    pub no_park: bool,
    /// Disallow retrieving parked calls.
    #[arg(long)]
    pub no_retrieve: bool,
    /// Create the account disabled.
    #[arg(long)]
    pub disabled: bool,
}

/// `parkline did ...`
#[derive(Debug, Subcommand)]
pub enum DidCmd {
    /// List DIDs.
    List {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Add (or update) a DID.
    Add {
        /// External number.
        #[arg(long)]
        number: String,
        /// Tenant name.
        #[arg(long)]
        tenant: String,
        /// Target extension.
        #[arg(long)]
        extension: String,
    },
}

/// `parkline trunk ...`
#[derive(Debug, Subcommand)]
pub enum TrunkCmd {
    /// List trunks.
    List,
    /// Add (or update) a trunk.
    Add {
        /// Name.
        #[arg(long)]
        name: String,
        /// `IP:PORT` of the peer.
        #[arg(long)]
        address: String,
        /// Tenant served.
        #[arg(long)]
        tenant: String,
    },
}
