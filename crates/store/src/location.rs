//! Where the store is: an SQLite file, or a PostgreSQL database by URL.
//! Shown (in logs and messages) with any password masked.

use crate::{PostgresStore, Result, SqliteStore, Store};
use std::path::PathBuf;

/// A store's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (made, with its folder, on first open).
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://USER:PASS@HOST/DB`, or libpq's
    /// `host=... dbname=...` form.
    Postgres(String),
}

impl Location {
    /// Opens (and migrates) the store there, for tools (the CLI, the
    /// API) that touch no node's live calls.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        self.open_as("")
    }

    /// Opens it as `node` of a cluster: the live calls, media streams and
    /// parked calls it reads and writes are that node's (an SQLite file
    /// has one node).
    pub fn open_as(&self, node: &str) -> Result<Box<dyn Store>> {
        Ok(match self {
            Location::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            Location::Postgres(url) => Box::new(PostgresStore::connect_as(url, node)?),
        })
    }

    /// Whether a Parkline store is there already (nothing is made: the
    /// file is not created, the schema not migrated).
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(path) => path.exists(),
            Location::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
                .ok()
                .and_then(|mut c| {
                    c.query_one("SELECT to_regclass('parkline_schema') IS NOT NULL", &[])
                        .ok()
                })
                .is_some_and(|r| r.get::<_, bool>(0)),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => write!(f, "{}", masked(url)),
        }
    }
}

/// `url` without its password (`postgres://user:***@host/db`,
/// `password=***`).
pub fn masked(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.split_once('@') {
            if let Some((user, _)) = auth.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        let pg = Location::Postgres("postgres://parkline:s3cret@db.example/pbx".into());
        assert_eq!(pg.to_string(), "postgres://parkline:***@db.example/pbx");
        assert_eq!(
            masked("host=/tmp user=p password=s3cret dbname=x"),
            "host=/tmp user=p password=*** dbname=x"
        );
        assert_eq!(masked("postgres://p@%2Ftmp/x"), "postgres://p@%2Ftmp/x");
    }
}
