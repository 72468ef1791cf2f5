//! Loading prompt files for [`super::MediaHandle::play`].

use std::io;

use crate::media::prompt::Prompt;

/// Loads a prompt file (8 kHz mono 16-bit WAV) for [`super::MediaHandle::play`].
pub async fn load_prompt(path: &std::path::Path) -> Result<Prompt, LoadPromptError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| LoadPromptError::Read {
            path: path.display().to_string(),
            source,
        })?;
    Ok(Prompt::from_wav_bytes(&path.display().to_string(), &bytes)?)
}

/// Why a prompt file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadPromptError {
    #[error("cannot read prompt {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error(transparent)]
    Prompt(#[from] crate::media::prompt::PromptError),
}
