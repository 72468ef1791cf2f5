//! SMPP 3.4 (placeholder while the codec is written).
