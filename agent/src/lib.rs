//! strap: the in-instance agent. It turns an instance's user data into a configured
//! machine and resolves (and explains) the AWS credential chain.
//!
//! Modules, by concern (imports only point down this list):
//! - [`cli`]: the command line: argument parsing and output; each subcommand calls one
//!   of the modules below.
//! - [`sandbox`]: `strap try`, the boot inside a throwaway overlay of this machine.
//! - [`boot`]: stages, modules, frequencies, state and records of a boot.
//! - [`cloudconfig`]: cloud-config as PyYAML reads it, merging, schema.
//! - [`creds`]: the AWS credential provider chain and its explanation.
//! - [`userdata`]: raw user-data bytes to an ordered list of typed parts.
//! - [`net`]: network interfaces from the metadata to renderer files.
//! - [`imds`]: the instance-metadata client.
//! - [`bounded`]: HTTP answers read with a cap on their size.
//! - [`context`]: environment, filesystem root and clock, injected.
//! - [`secret`]: values that must never be printed.
//! - [`pyjson`]: strings as Python's `json.dumps` writes them (credential caches, `tojson`).
//! - [`textdiff`]: the unified diff of two small texts (`strap plan`, `strap try --diff`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// `eprintln!` as one `write` of the whole line: see [`context::say`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::context::say(&format!($($arg)*))
    };
}

pub mod boot;
pub mod bounded;
pub mod cli;
#[cfg(test)]
mod cloud_init_peers;
pub mod cloudconfig;
pub mod context;
pub mod creds;
pub mod imds;
#[cfg(test)]
mod layering;
pub mod net;
pub mod pyjson;
pub mod sandbox;
pub mod secret;
pub mod textdiff;
pub mod threads;
pub mod userdata;
