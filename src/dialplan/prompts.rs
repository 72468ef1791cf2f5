//! `prompts.toml`: where the prompt files are and which prompt serves which fixed purpose.
//!
//! Every `*.wav` in `dir` (relative to the dialplans directory) is a prompt named after its
//! file; `[files]` adds names for files elsewhere. Each file must be 8 kHz mono 16-bit PCM —
//! checked with the media engine's own loader, so what passes here plays.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Ctx, DialplanError};
use crate::call::plan::Prompts;
use crate::media::prompt::Prompt;

type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    dir: Text,
    restricted: Text,
    rating: Text,
    rating_thanks: Text,
    no_agent: Text,
    all_busy: Text,
    callback_ack: Text,
    goodbye: Text,
    #[serde(default)]
    transferring: Option<Text>,
    #[serde(default)]
    transfer_failed: Option<Text>,
    #[serde(default)]
    files: BTreeMap<String, Text>,
}

/// Checks that `path` is a playable prompt; the error names the line of `span`.
fn check_wav(cx: &Ctx, span: std::ops::Range<usize>, path: &Path) -> Result<(), DialplanError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return cx.err(span, format!("missing prompt file {}: {e}", path.display())),
    };
    match Prompt::from_wav_bytes(&path.display().to_string(), &bytes) {
        Ok(_) => Ok(()),
        Err(e) => cx.err(span, e.to_string()),
    }
}

/// Parses `prompts.toml`; `base` is the dialplans directory that relative paths start from.
pub fn parse(cx: &Ctx, base: &Path) -> Result<Prompts, DialplanError> {
    let f: File = cx.parse()?;
    let dir = base.join(f.dir.get_ref());
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            return cx.err(
                f.dir.span(),
                format!("cannot read prompt directory {}: {e}", dir.display()),
            )
        }
    };
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    found.sort();
    for p in found {
        check_wav(cx, f.dir.span(), &p)?;
        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
            files.insert(stem.to_string(), p.clone());
        }
    }
    for (name, file) in &f.files {
        let p = base.join(file.get_ref());
        check_wav(cx, file.span(), &p)?;
        files.insert(name.clone(), p);
    }
    let named = |t: &Text| -> Result<String, DialplanError> {
        if files.contains_key(t.get_ref()) {
            Ok(t.get_ref().clone())
        } else {
            cx.err(
                t.span(),
                format!(
                    "missing prompt file {}",
                    dir.join(format!("{}.wav", t.get_ref())).display()
                ),
            )
        }
    };
    // Optional purposes: a plan that does not name them uses the file of the default name when
    // there is one; without it, that step simply goes on without a word.
    let optional = |t: &Option<Text>, default: &str| -> Result<Option<String>, DialplanError> {
        match t {
            Some(t) => named(t).map(Some),
            None => Ok(files.contains_key(default).then(|| default.to_string())),
        }
    };
    Ok(Prompts {
        restricted: named(&f.restricted)?,
        rating: named(&f.rating)?,
        rating_thanks: named(&f.rating_thanks)?,
        no_agent: named(&f.no_agent)?,
        all_busy: named(&f.all_busy)?,
        callback_ack: named(&f.callback_ack)?,
        goodbye: named(&f.goodbye)?,
        transferring: optional(&f.transferring, "transferring")?,
        transfer_failed: optional(&f.transfer_failed, "transfer_failed")?,
        files,
    })
}
