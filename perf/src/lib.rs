//! feedpipe performance tooling: a deterministic generator of synthetic Kaspersky feeds for any
//! catalog feed, used by the benchmarks and the peer comparison.

pub mod generate;
pub mod rng;
