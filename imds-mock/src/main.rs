//! The `imds-mock` binary. (Skeleton.)

fn main() {}
