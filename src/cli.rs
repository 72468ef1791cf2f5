//! Command-line surface.
