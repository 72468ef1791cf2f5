//! Benchmark placeholder; replaced by its room.
fn main() {}
