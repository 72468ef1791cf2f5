//! The `rexian` command: `serve`, `agent`, `token`, `check`, `deadline` (and more as rooms
//! grow).
//!
//! Subcommands that touch the store open it directly, so they work while the daemon runs
//! (SQLite in WAL mode allows that; PostgreSQL naturally does). Output is plain text made for
//! operators' scripts: one record per line, tab-separated.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::store::accounts::Account;
use crate::store::tokens::Role;
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "rexian",
    version,
    about = "SIP daemon for a 12345 government-service hotline"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (no options: the demo configuration from this directory).
    Serve(ServeArgs),
    /// Manage softphone accounts (agents, expert seats, leaders).
    Agent {
        #[command(subcommand)]
        action: AgentAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage HTTP API bearer tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Live queues, agents and calls of the running daemon (like `queue show`).
    Status {
        #[command(flatten)]
        live: LiveArgs,
        /// Print the API's JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Make the running daemon re-read its dialplans (as SIGHUP does); a plan that does not
    /// validate is refused with its file:line and the old one stays.
    Reload {
        #[command(flatten)]
        live: LiveArgs,
    },
    /// Callers restricted for abuse (系统短期限制使用): list, add, lift.
    Restrict {
        #[command(subcommand)]
        action: RestrictCmd,
        #[command(flatten)]
        live: LiveArgs,
    },
    /// Validate the configuration and dialplans; exit 1 with file:line: reason.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dialplans: Option<PathBuf>,
    },
    /// Print when a step of a ticket is due (RFC 3339, +08:00). Exit 2 on bad input, 1 when
    /// the dialplans cannot be loaded, 3 (with the provisional time printed and a warning on
    /// stderr) when the count reaches past the last year of the calendar.
    Deadline(crate::cli_deadline::DeadlineArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// SIP address for UDP and TCP (default 0.0.0.0:5060).
    #[arg(long)]
    pub sip: Option<SocketAddr>,
    /// SIP over TLS address (needs --tls-cert and --tls-key).
    #[arg(long)]
    pub tls: Option<SocketAddr>,
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// HTTP API address (default 127.0.0.1:8080).
    #[arg(long)]
    pub http: Option<SocketAddr>,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// sqlite://PATH or postgres://… (default SQLite under --data).
    #[arg(long)]
    pub database: Option<String>,
    #[arg(long)]
    pub dialplans: Option<PathBuf>,
    #[arg(long)]
    pub recordings: Option<PathBuf>,
}

/// Where the store is, for subcommands that only need the store.
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    #[arg(long, global = true)]
    pub database: Option<String>,
}

/// How to reach the running daemon's API.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// The daemon's HTTP address (default: from the config).
    #[arg(long, global = true)]
    pub http: Option<SocketAddr>,
    /// A bearer token (default: the CLI's own, kept in the data directory).
    #[arg(long, env = "REXIAN_TOKEN", global = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

impl LiveArgs {
    async fn connect(self) -> Result<(SocketAddr, String)> {
        let (store, config) = self.db.store().await?;
        let token = crate::cli_live::token(self.token, &store, &config.data).await?;
        store.close().await;
        Ok((self.http.unwrap_or(config.http), token))
    }
}

#[derive(Subcommand, Debug)]
pub enum RestrictCmd {
    /// Callers restricted now.
    List,
    /// Restrict a caller for a while; they hear a prompt naming 110/119/120/122.
    Add {
        number: String,
        #[arg(long)]
        minutes: u64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Lift a restriction before it expires.
    Lift { number: String },
}

#[derive(Subcommand, Debug)]
pub enum AgentAction {
    /// Create an account; its password is kept only as HA1 digests.
    Add {
        id: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        name: Option<String>,
    },
    List,
    Remove {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Create a token and print it once.
    Create {
        #[arg(long)]
        role: Role,
        /// The agent account or handling unit the token speaks for.
        #[arg(long)]
        id: Option<String>,
    },
}

impl ServeArgs {
    /// The effective configuration: file (if any) over defaults, flags over both.
    pub fn config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(v) = self.sip {
            c.sip = v;
        }
        if let Some(v) = self.http {
            c.http = v;
        }
        if self.tls.is_some() {
            c.tls = self.tls;
        }
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert.clone();
        }
        if self.tls_key.is_some() {
            c.tls_key = self.tls_key.clone();
        }
        if let Some(v) = &self.data {
            c.data = v.clone();
        }
        if self.database.is_some() {
            c.database = self.database.clone();
        }
        if let Some(v) = &self.dialplans {
            c.dialplans = v.clone();
        }
        if let Some(v) = &self.recordings {
            c.recordings = v.clone();
        }
        if c.tls.is_some() && (c.tls_cert.is_none() || c.tls_key.is_none()) {
            bail!("--tls needs --tls-cert and --tls-key");
        }
        Ok(c)
    }
}

impl DbArgs {
    fn config(&self) -> Result<Config> {
        ServeArgs {
            config: self.config.clone(),
            data: self.data.clone(),
            database: self.database.clone(),
            ..ServeArgs::default()
        }
        .config()
    }

    async fn store(&self) -> Result<(Store, Config)> {
        let c = self.config()?;
        let url = c.database_url();
        let store = Store::open(&url)
            .await
            .with_context(|| "cannot open the store")?;
        Ok((store, c))
    }
}

/// Runs a parsed command line; the binary's only entry.
pub async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.config()?;
            crate::shell::run_daemon(config, crate::shell::shutdown_signal()).await?;
        }
        Command::Agent { action, db } => agent(action, &db).await?,
        Command::Token { action, db } => {
            let (store, _) = db.store().await?;
            match action {
                TokenAction::Create { role, id } => {
                    let t = store.create_token(role, id.as_deref()).await?;
                    println!("{t}");
                }
            }
        }
        Command::Status { live, json } => {
            let (addr, token) = live.connect().await?;
            crate::cli_live::status(addr, &token, json)?;
        }
        Command::Reload { live } => {
            let (addr, token) = live.connect().await?;
            crate::cli_live::reload(addr, &token)?;
        }
        Command::Restrict { action, live } => {
            let (addr, token) = live.connect().await?;
            let action = match action {
                RestrictCmd::List => crate::cli_live::RestrictAction::List,
                RestrictCmd::Add {
                    number,
                    minutes,
                    note,
                } => crate::cli_live::RestrictAction::Add {
                    number,
                    minutes,
                    note,
                },
                RestrictCmd::Lift { number } => crate::cli_live::RestrictAction::Lift { number },
            };
            crate::cli_live::restrict(addr, &token, action)?;
        }
        Command::Check { config, dialplans } => {
            return check(config, dialplans);
        }
        Command::Deadline(args) => return Ok(crate::cli_deadline::run(&args)),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn agent(action: AgentAction, db: &DbArgs) -> Result<()> {
    let (store, config) = db.store().await?;
    match action {
        AgentAction::Add { id, password, name } => {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("account ID {id:?}: use letters, digits, '-', '_' or '.'");
            }
            if password.len() < 8 {
                bail!("the password must be at least 8 characters");
            }
            use crate::sip::digest::{ha1, Algorithm};
            let account = Account {
                ha1_md5: ha1(Algorithm::Md5, &id, &config.realm, &password),
                ha1_sha256: ha1(Algorithm::Sha256, &id, &config.realm, &password),
                id,
                name,
                realm: config.realm.clone(),
                created_at: 0,
            };
            store.add_account(&account).await?;
            println!("added {}", account.id);
        }
        AgentAction::List => {
            for a in store.accounts().await? {
                println!("{}\t{}\t{}", a.id, a.name.unwrap_or_default(), a.realm);
            }
        }
        AgentAction::Remove { id } => {
            store.remove_account(&id).await?;
            println!("removed {id}");
        }
    }
    Ok(())
}

fn check(config: Option<PathBuf>, dialplans: Option<PathBuf>) -> Result<std::process::ExitCode> {
    let mut c = match &config {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return Ok(std::process::ExitCode::from(1));
            }
        },
        None => Config::default(),
    };
    if let Some(d) = dialplans {
        c.dialplans = d;
    }
    match crate::dialplan::check_dir(&c.dialplans) {
        Ok(summary) => {
            println!("ok: {summary}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            Ok(std::process::ExitCode::from(1))
        }
    }
}
