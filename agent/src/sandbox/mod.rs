//! `strap try`: the boot in a new mount and network namespace over an overlay of `/`,
//! with the embedded mock on 169.254.169.254, and a report of what changed. (Skeleton.)
