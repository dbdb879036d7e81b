//! `keys_to_console` (cloud-init's cc_keys_to_console, final stage, per instance): the
//! host keys' fingerprints and the public keys, between cloud-init's markers, on the
//! console, where `aws ec2 get-console-output` shows them so that the first ssh login can
//! be checked:
//!
//! ```text
//! #############################################################
//! -----BEGIN SSH HOST KEY FINGERPRINTS-----
//! 256 SHA256:… root@host (ED25519)
//! -----END SSH HOST KEY FINGERPRINTS-----
//! #############################################################
//! -----BEGIN SSH HOST KEY KEYS-----
//! ssh-ed25519 AAAA… root@host
//! -----END SSH HOST KEY KEYS-----
//! ```
//!
//! Keys are the root's `/etc/ssh/ssh_host_*key.pub`, in name order; fingerprints come from
//! `ssh-keygen -l`. `ssh: {emit_keys_to_console: false}` turns it off;
//! `ssh_fp_console_blacklist` and `ssh_key_console_blacklist` (both empty by default, as in
//! cloud-init 25; 22.4 left `ssh-dss` keys out) leave key types out of either block. It
//! only reads files, so it runs under `--root` too.

use super::super::context::Boot;
use super::{string_list, truthy, ModuleError, Outcome};

/// `keys_to_console`.
pub fn keys_to_console(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    if !truthy(
        boot.cfg("ssh").and_then(|n| n.get("emit_keys_to_console")),
        true,
    ) {
        return Ok(Outcome::Skipped("ssh.emit_keys_to_console is false".into()));
    }
    let list = |key: &str, default: &[&str]| -> Result<Vec<String>, ModuleError> {
        match boot.cfg(key) {
            Some(node) => string_list(key, node, false),
            None => Ok(default.iter().map(|s| (*s).to_string()).collect()),
        }
    };
    let fp_blacklist = list("ssh_fp_console_blacklist", &[])?;
    let key_blacklist = list("ssh_key_console_blacklist", &[])?;
    let dir = super::system::root_path(boot.ctx, "/etc/ssh")?;
    let mut keys: Vec<(std::path::PathBuf, String, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("ssh_host_") && name.ends_with("key.pub")) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let first = text.lines().next().unwrap_or_default().to_string();
            let key_type = first
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            keys.push((e.path(), key_type, first));
        }
    }
    keys.sort();
    if keys.is_empty() {
        return Ok(Outcome::Skipped(format!(
            "no host keys in {}",
            dir.display()
        )));
    }
    let mut lines = Vec::new();
    let fingerprinted: Vec<_> = keys
        .iter()
        .filter(|(_, t, _)| !fp_blacklist.contains(t))
        .collect();
    if !fingerprinted.is_empty() {
        lines.push("#".repeat(61));
        lines.push("-----BEGIN SSH HOST KEY FINGERPRINTS-----".to_string());
        for (path, _, _) in fingerprinted {
            let stdout = super::run_tool(
                "ssh-keygen",
                &["-l".as_ref(), "-f".as_ref(), path.as_os_str()],
            )?;
            lines.push(String::from_utf8_lossy(&stdout).trim().to_string());
        }
        lines.push("-----END SSH HOST KEY FINGERPRINTS-----".to_string());
        lines.push("#".repeat(61));
    }
    let shown_keys: Vec<_> = keys
        .iter()
        .filter(|(_, t, _)| !key_blacklist.contains(t))
        .collect();
    if !shown_keys.is_empty() {
        lines.push("-----BEGIN SSH HOST KEY KEYS-----".to_string());
        lines.extend(shown_keys.iter().map(|(_, _, line)| line.clone()));
        lines.push("-----END SSH HOST KEY KEYS-----".to_string());
    }
    for line in &lines {
        boot.out.message(line);
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail: Vec::new(),
    })
}
