//! Persistence: sqlx over SQLite (the embedded default, WAL mode) or PostgreSQL.
//!
//! One [`Store`] wraps an `AnyPool`; every query is written once with `$N` placeholders, which
//! both backends accept. Migrations live in `migrations/sqlite` and `migrations/postgres` (the
//! DDL differs only where the dialects do) and run at open. Every write that touches more than
//! one row runs in a transaction, so a kill at any moment leaves the store consistent.
//!
//! Rooms: [`accounts`] (softphone credentials as HA1 hashes), [`tokens`] (API bearer tokens),
//! [`security`] (security events), [`calls`] (call records), [`units`] (handling units),
//! [`tickets`] (ticket history and its projection), [`ticket_codec`] (history rows),
//! [`ticket_search`] (filtered lists), [`ticket_lights`] (the persisted red/yellow lights),
//! [`ticket_group`] (group commit of ticket creation).

pub mod accounts;
pub mod callbacks;
pub mod calls;
pub mod handoffs;
pub mod security;
pub mod ticket_codec;
pub mod ticket_create;
pub mod ticket_group;
pub mod ticket_lights;
pub mod ticket_notify;
pub mod ticket_search;
pub mod tickets;
pub mod tokens;
pub mod units;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Store failures, by cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0} not found")]
    NotFound(String),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// The default embedded database under a data directory.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("rexian.db").display())
    }

    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(url) {
                if let Some(dir) = Path::new(&path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
            }
        }
        let opts = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout=5000").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at the start, where the busy
/// timeout applies. A plain (deferred) `BEGIN` that reads first and writes later must upgrade its
/// read lock, and SQLite answers that upgrade with `database is locked` at once, without
/// waiting, whenever another connection holds the write lock — a dropped transaction whose
/// rollback is still on its way back to the pool is enough. PostgreSQL waits on row locks, so it
/// keeps its plain `BEGIN`.
pub async fn begin_write(pool: &AnyPool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    if pool.connect_options().database_url.scheme() == "sqlite" {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// Seconds since the Unix epoch, the store's time format.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A write refused because a row it names (or a row naming the one it deletes) is missing.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    is_violation(
        e,
        sqlx::error::ErrorKind::ForeignKeyViolation,
        "23503",
        "FOREIGN KEY constraint failed",
    )
}

/// True when a database error is a unique-key violation, on either backend.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    is_violation(
        e,
        sqlx::error::ErrorKind::UniqueViolation,
        "23505",
        "UNIQUE constraint failed",
    )
}

/// A constraint error by sqlx's kind, PostgreSQL's SQLSTATE or SQLite's message.
fn is_violation(e: &sqlx::Error, kind: sqlx::error::ErrorKind, code: &str, message: &str) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.kind() == kind || d.code().as_deref() == Some(code) || d.message().contains(message)
        }
        _ => false,
    }
}
