//! The tokio runtime around the sans-IO cores: sockets, timers, tasks, signals, and the few
//! places that touch the disk (the recording file writer).

pub mod recorder;
