//! The chain's scenario tests live in `agent/tests/data/aws-sdk/` and `matrix.rs`.
