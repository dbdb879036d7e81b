//! End-to-end tests: one binary, one module per area. They run the real `strap` and
//! `imds-mock` binaries and real AWS clients against servers started on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod boot;
mod boot_config;
mod boot_disk;
mod cli;
mod config_mgmt;
mod creds;
mod imds_client;
mod limits;
mod mock;
mod mock_clients;
mod net;
mod plan;
mod sandbox;
mod schema;
mod systemd;
mod userdata;
