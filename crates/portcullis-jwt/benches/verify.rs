//! Placeholder: the verification benchmark lands with the benchmark work.

fn main() {}
