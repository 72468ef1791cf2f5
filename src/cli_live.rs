//! `rexian status` and `rexian reload`: the running daemon's live state and dialplan reload,
//! asked over its HTTP API like `asterisk -rx "queue show"` asks over the control socket.
//!
//! Whoever may read the data directory may ask: the first use creates an admin token and
//! keeps it in `<data>/cli.token` (mode 0600), so operators and their scripts need no
//! token handling; `--token` (or `REXIAN_TOKEN`) overrides it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::http::calls::StatusView;
use crate::store::tokens::Role;
use crate::store::Store;

/// One HTTP/1.1 exchange with `Connection: close`; returns the status and the body.
fn request(addr: SocketAddr, method: &str, path: &str, token: &str) -> Result<(u16, String)> {
    request_with(addr, method, path, token, "")
}

/// As [`request`], with a JSON body.
fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("cannot reach the daemon's HTTP API at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP answer")?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The token to use: given, or the CLI's own kept in the data directory.
pub async fn token(given: Option<String>, store: &Store, data: &Path) -> Result<String> {
    if let Some(t) = given {
        return Ok(t);
    }
    let path = data.join("cli.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if store.verify_token(t.trim()).await?.is_some() {
            return Ok(t.trim().to_string());
        }
    }
    let t = store.create_token(Role::Admin, Some("cli")).await?;
    std::fs::create_dir_all(data)?;
    std::fs::write(&path, &t).with_context(|| format!("cannot keep {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(t)
}

fn api_error(status: u16, body: &str) -> anyhow::Error {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    anyhow::anyhow!("the daemon answered {status}: {msg}")
}

/// Prints queues, agents and calls; `json` prints the API's document as is.
pub fn status(addr: SocketAddr, token: &str, json: bool) -> Result<()> {
    let (code, body) = request(addr, "GET", "/api/v1/status", token)?;
    if code != 200 {
        return Err(api_error(code, &body));
    }
    if json {
        println!("{body}");
        return Ok(());
    }
    let s: StatusView = serde_json::from_str(&body).context("unexpected status document")?;
    print!("{}", render(&s));
    Ok(())
}

/// The human form of a status snapshot.
pub fn render(s: &StatusView) -> String {
    let mut out = String::new();
    let secs = |v: Option<u64>| v.map_or("-".to_string(), |s| format!("{s} s"));
    for q in &s.queues {
        let lines: Vec<String> = q.by_line.iter().map(|(l, n)| format!("{l}: {n}")).collect();
        out.push_str(&format!(
            "queue {}: {} waiting, longest {}{}\n",
            q.name,
            q.waiting,
            secs(q.longest_wait_secs),
            if lines.is_empty() {
                String::new()
            } else {
                format!(" ({})", lines.join(", "))
            }
        ));
    }
    let states: Vec<String> = s
        .agents_by_state
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.push_str(&format!(
        "agents: {} ({})\n",
        s.agents.len(),
        states.join(", ")
    ));
    for a in &s.agents {
        out.push_str(&format!(
            "  {:<10} {:<10} {:<12} {}{}\n",
            a.id,
            a.state,
            if a.registered {
                "registered"
            } else {
                "offline"
            },
            a.lines.join(","),
            a.reason
                .as_ref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        ));
    }
    for t in &s.trunks {
        let up = match t.up {
            Some(true) => "up",
            Some(false) => "down",
            None => "unknown",
        };
        let reg = match (t.registered, t.registration_expires_secs) {
            (Some(true), Some(e)) => format!("registered, expires in {e} s"),
            (Some(true), None) => "registered".to_string(),
            (Some(false), _) => "not registered".to_string(),
            (None, _) => String::new(),
        };
        out.push_str(format!("trunk {:<10} {:<8} {}", t.name, up, reg).trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "calls in progress: {}, longest wait {}, restricted callers: {}, pending callbacks: {}\n",
        s.calls_in_progress,
        secs(s.longest_wait_secs),
        s.restricted_callers,
        s.pending_callbacks
    ));
    out
}

/// Asks the daemon to re-read its dialplans.
pub fn reload(addr: SocketAddr, token: &str) -> Result<()> {
    let (code, body) = request(addr, "POST", "/api/v1/reload", token)?;
    match code {
        200 => {
            println!("reloaded: {body}");
            Ok(())
        }
        422 => bail!(
            "refused, the old dialplans stay: {}",
            api_error(code, &body)
        ),
        _ => Err(api_error(code, &body)),
    }
}

/// What `rexian restrict` does.
#[derive(Debug, Clone)]
pub enum RestrictAction {
    List,
    Add {
        number: String,
        minutes: u64,
        note: String,
    },
    Lift {
        number: String,
    },
}

/// Lists, adds or lifts caller restrictions, then prints the list.
pub fn restrict(addr: SocketAddr, token: &str, action: RestrictAction) -> Result<()> {
    let (code, body) = match action {
        RestrictAction::List => request(addr, "GET", "/api/v1/restrictions", token)?,
        RestrictAction::Add {
            number,
            minutes,
            note,
        } => {
            let doc = serde_json::json!({ "number": number, "minutes": minutes, "note": note });
            request_with(
                addr,
                "POST",
                "/api/v1/restrictions",
                token,
                &doc.to_string(),
            )?
        }
        RestrictAction::Lift { number } => request(
            addr,
            "DELETE",
            &format!("/api/v1/restrictions/{number}"),
            token,
        )?,
    };
    if code != 200 {
        return Err(api_error(code, &body));
    }
    let list: Vec<crate::http::calls::RestrictionView> =
        serde_json::from_str(&body).context("unexpected restrictions document")?;
    if list.is_empty() {
        println!("no caller is restricted");
    }
    for r in list {
        println!(
            "{}\t{} s left\t{}",
            r.number,
            r.seconds_left,
            if r.by_supervisor {
                "supervisor"
            } else {
                "abuse limit"
            }
        );
    }
    Ok(())
}
