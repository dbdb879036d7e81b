//! imds-mock: a faithful EC2 instance-metadata, container-credentials and STS server.
//! (Skeleton.)

pub mod container;
pub mod identity;
pub mod keys;
pub mod sigv4;
pub mod sts;
