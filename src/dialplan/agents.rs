//! `agents.toml`: which lines each softphone account takes, and its role.
//!
//! Accounts are created with `rexian agent add`; the store holds only their credentials. An
//! account with no entry here is a 12345 agent with the `[defaults]`. The file is optional.
//!
//! ```toml
//! [defaults]
//! lines = ["12345"]            # skills of accounts without an entry
//! ready_on_register = true     # a softphone that registers starts taking calls
//!
//! [[agent]]
//! id = "7201"
//! name = "卫生 7201"
//! role = "agent"               # agent | expert | leader
//! lines = ["12320", "12345"]   # the main number and/or dual-number lines
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::{AgentConf, Agents, Line, MergeType, Role};

type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Option<Defaults>,
    #[serde(default)]
    agent: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    lines: Option<Vec<Text>>,
    #[serde(default)]
    ready_on_register: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: Text,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<Text>,
    #[serde(default)]
    lines: Option<Vec<Text>>,
    #[serde(default)]
    ready_on_register: Option<bool>,
}

fn skills(cx: &Ctx, list: &[Text], lines: &[Line]) -> Result<Vec<String>, DialplanError> {
    let mut out: Vec<String> = Vec::new();
    for t in list {
        let n = t.get_ref();
        match lines.iter().find(|l| &l.number == n) {
            None => {
                return cx.err(
                    t.span(),
                    format!("unknown line {n:?} (not in numbers.toml)"),
                )
            }
            Some(l) if matches!(l.merge, MergeType::Whole | MergeType::SubCentre) => {
                return cx.err(
                    t.span(),
                    format!("line {n} is not a skill: its calls go to the main line's agents"),
                )
            }
            Some(_) => {}
        }
        if out.contains(n) {
            return cx.err(t.span(), format!("line {n} listed twice"));
        }
        out.push(n.clone());
    }
    Ok(out)
}

/// Checks an account ID the way `rexian agent add` does.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Parses `agents.toml` against the lines; `main` is the 12345 number.
pub fn parse(cx: &Ctx, lines: &[Line], main: &str) -> Result<Agents, DialplanError> {
    let f: File = cx.parse()?;
    let d = f.defaults.unwrap_or_default();
    let default_lines = match &d.lines {
        Some(l) => skills(cx, l, lines)?,
        None => vec![main.to_string()],
    };
    let default_ready = d.ready_on_register.unwrap_or(true);
    let mut listed = BTreeMap::new();
    for e in &f.agent {
        let id = e.id.get_ref();
        if !valid_id(id) {
            return cx.err(
                e.id.span(),
                format!("account ID {id:?}: use letters, digits, '-', '_' or '.'"),
            );
        }
        if listed.contains_key(id) {
            return cx.err(e.id.span(), format!("duplicate agent {id}"));
        }
        let role = match e.role.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
            None | Some(("agent", _)) => Role::Agent,
            Some(("expert", _)) => Role::Expert,
            Some(("leader", _)) => Role::Leader,
            Some((other, span)) => {
                return cx.err(
                    span,
                    format!("role {other:?}: use \"agent\", \"expert\" or \"leader\""),
                )
            }
        };
        let lines = match &e.lines {
            Some(l) => skills(cx, l, lines)?,
            None => default_lines.clone(),
        };
        listed.insert(
            id.clone(),
            AgentConf {
                id: id.clone(),
                name: e.name.clone(),
                role,
                lines,
                ready_on_register: e.ready_on_register.unwrap_or(default_ready),
            },
        );
    }
    Ok(Agents {
        default_lines,
        default_ready_on_register: default_ready,
        listed,
    })
}
