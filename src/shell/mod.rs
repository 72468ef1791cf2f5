//! The tokio shell.
