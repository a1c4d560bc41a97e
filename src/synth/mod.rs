//! Synthetic captures for tests and benchmarks. (Stub: to be written.)
