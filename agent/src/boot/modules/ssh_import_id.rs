//! `ssh_import_id` (cloud-init's cc_ssh_import_id, config stage, per instance): public
//! keys imported from Launchpad or GitHub (`lp:name`, `gh:name`) by the image's
//! `ssh-import-id`, run as each user: the top-level list for the default user, each
//! `users` entry's own `ssh_import_id` for the others. On the real root the command runs
//! (`sudo -Hu USER ssh-import-id IDS…`); under `--root` it is recorded. An image without
//! `ssh-import-id` gets a warning and nothing is imported, as in cloud-init.

use super::super::context::Boot;
use super::{entries_outcome, system, users, ModuleError, Outcome};

/// The importing program, looked up under the root.
pub const SSH_IMPORT_ID: &str = "ssh-import-id";

/// `ssh_import_id`.
pub fn ssh_import_id(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let wanted = users::ssh_import_ids(boot)?;
    if wanted.is_empty() {
        return Ok(Outcome::Skipped("no `ssh_import_id` for any user".into()));
    }
    if !system::installed(boot.ctx, SSH_IMPORT_ID) {
        boot.warn(&format!(
            "ssh_import_id: {SSH_IMPORT_ID} is not installed, but ssh_import_id is configured; nothing imported"
        ));
        return Ok(Outcome::Skipped(format!(
            "{SSH_IMPORT_ID} is not installed"
        )));
    }
    let mut tail = Vec::new();
    let mut failures = Vec::new();
    let attempted = wanted.len();
    for (user, ids) in wanted {
        if users::lookup_user(boot.ctx, &user).is_none() {
            failures.push(format!("{user}: no such user"));
            continue;
        }
        let mut argv: Vec<String> = [
            "sudo",
            "--preserve-env=https_proxy",
            "-Hu",
            user.as_str(),
            SSH_IMPORT_ID,
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        argv.extend(ids);
        match system::run_or_record(boot, "ssh_import_id", &argv, None) {
            Ok(Some(line)) => tail.push(line),
            Ok(None) => tail.push(format!("imported keys for {user}")),
            Err(e) => failures.push(format!(
                "{user}: {}",
                super::super::records::error_chain(&e)
            )),
        }
    }
    entries_outcome(tail, failures, attempted)
}
