//! Importing the credentials of a `#systemd-userdata` (or JSON) user-data part into
//! systemd's credential store under the boot's root, as `systemd-imds --import` does:
//! `text` and `data` into `/run/credstore/NAME`, `encrypted` into
//! `/run/credstore.encrypted/NAME`, folders mode 0700, files mode 0400 written by
//! [`durable::write`] (owned by the user strap runs as: root at boot). A credential
//! that is already there is left as it is: with the same bytes it was imported before
//! (by systemd-imds or an earlier boot), with others the local one wins, as in systemd.
//! This module owns those writes; parsing is `userdata::systemd`'s. Values never reach
//! the log, the records or `Debug` output: only names and counts do.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::boot::durable;
use crate::context::{Context, ContextError};
use crate::userdata::systemd::{self, Credential, SystemdUserDataError};

/// What happened to each credential of a part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Written now.
    pub written: Vec<String>,
    /// Already there with the same bytes.
    pub present: Vec<String>,
    /// Already there with other bytes (or not a regular file): left alone.
    pub kept: Vec<String>,
}

impl Imported {
    /// One line for the report: `imported 2 credential(s) (a, b) into /run/credstore; …`.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        let mut parts = Vec::new();
        if self.written.is_empty() && self.present.is_empty() && self.kept.is_empty() {
            return "no credentials in the part (no `systemd.credentials`)".into();
        }
        if !self.written.is_empty() {
            parts.push(format!(
                "imported {} credential(s) ({})",
                self.written.len(),
                list(&self.written)
            ));
        }
        if !self.present.is_empty() {
            parts.push(format!(
                "{} already imported ({})",
                self.present.len(),
                list(&self.present)
            ));
        }
        if !self.kept.is_empty() {
            parts.push(format!(
                "{} left as found: a different local credential of that name exists ({})",
                self.kept.len(),
                list(&self.kept)
            ));
        }
        parts.join("; ")
    }
}

/// Why a part's credentials were not imported.
#[derive(Debug, thiserror::Error)]
pub enum CredstoreError {
    /// The part is not valid systemd user data: nothing of it is imported.
    #[error("systemd user data rejected, no credential imported")]
    Invalid(#[source] SystemdUserDataError),
    /// A credential store folder or file could not be written.
    #[error("cannot import credential `{name}` into {store}")]
    Write {
        name: String,
        store: &'static str,
        #[source]
        source: ContextError,
    },
}

/// Parse a part and import its credentials under `ctx`'s root.
pub fn import(ctx: &Context, payload: &[u8]) -> Result<Imported, CredstoreError> {
    let doc = systemd::parse(payload).map_err(CredstoreError::Invalid)?;
    let mut out = Imported::default();
    for cred in &doc.credentials {
        let err = |source| CredstoreError::Write {
            name: cred.name.clone(),
            store: cred.store(),
            source,
        };
        let dir = store_dir(ctx, cred.store()).map_err(err)?;
        let target = dir.join(&cred.name);
        match existing(&target, cred) {
            Existing::Same => out.present.push(cred.name.clone()),
            Existing::Different => {
                tracing::info!(
                    credential = %cred.name,
                    "credential already exists locally with other contents; left as found"
                );
                out.kept.push(cred.name.clone());
            }
            Existing::None => {
                durable::write(ctx.root(), &target, cred.value.expose(), Some(0o400))
                    .map_err(err)?;
                tracing::debug!(credential = %cred.name, store = cred.store(), "credential imported");
                out.written.push(cred.name.clone());
            }
        }
    }
    Ok(out)
}

/// The store folder under the root, created mode 0700 when missing.
fn store_dir(ctx: &Context, store: &str) -> Result<PathBuf, ContextError> {
    let dir = ctx.path(store)?;
    let opts = crate::context::FileOptions {
        mode: Some(0o700),
        owner: None,
    };
    crate::context::create_folder(ctx.root(), &dir, opts)?;
    Ok(dir)
}

enum Existing {
    None,
    Same,
    Different,
}

/// Whether the credential's file is there, and with the same bytes. A symbolic link or
/// anything but a regular file counts as different (it is never followed or replaced).
fn existing(target: &Path, cred: &Credential) -> Existing {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Existing::None;
    };
    let want = cred.value.expose();
    if !meta.file_type().is_file() || meta.len() != want.len() as u64 {
        return Existing::Different;
    }
    let mut have = Vec::with_capacity(want.len());
    match std::fs::File::open(target).and_then(|mut f| f.read_to_end(&mut have)) {
        Ok(_) if have == *want => Existing::Same,
        _ => Existing::Different,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn ctx(root: &Path) -> Context {
        Context::fixed(Vec::<(String, String)>::new(), root)
    }

    const DOC: &str = r#"#systemd-userdata
{"systemd.credentials": [
  {"name": "db.password", "text": "s3cr3t-text"},
  {"name": "tls.key", "data": "czNjcjN0LWRhdGE="},
  {"name": "vault.token", "encrypted": "AAECAw=="}
]}"#;

    #[test]
    fn imports_under_the_root_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let got = import(&ctx(dir.path()), DOC.as_bytes()).unwrap();
        assert_eq!(got.written, ["db.password", "tls.key", "vault.token"]);
        let store = dir.path().join("run/credstore");
        assert_eq!(
            std::fs::read(store.join("db.password")).unwrap(),
            b"s3cr3t-text"
        );
        assert_eq!(
            std::fs::read(store.join("tls.key")).unwrap(),
            b"s3cr3t-data"
        );
        assert_eq!(
            std::fs::read(dir.path().join("run/credstore.encrypted/vault.token")).unwrap(),
            [0, 1, 2, 3]
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store), 0o700);
        assert_eq!(mode(&store.join("db.password")), 0o400);
        assert_eq!(mode(&dir.path().join("run/credstore.encrypted")), 0o700);
        // Nothing else was left behind (no temporary files).
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 2);
    }

    #[test]
    fn what_systemd_imds_imported_is_not_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("run/credstore");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("db.password"), "s3cr3t-text").unwrap();
        std::fs::write(store.join("tls.key"), "local value").unwrap();
        let before = std::fs::metadata(store.join("db.password"))
            .unwrap()
            .modified()
            .unwrap();
        let got = import(&ctx(dir.path()), DOC.as_bytes()).unwrap();
        assert_eq!(got.present, ["db.password"]);
        assert_eq!(got.kept, ["tls.key"]);
        assert_eq!(got.written, ["vault.token"]);
        assert_eq!(
            std::fs::read_to_string(store.join("tls.key")).unwrap(),
            "local value"
        );
        let after = std::fs::metadata(store.join("db.password"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);
        // A second import is all "already imported".
        let again = import(&ctx(dir.path()), DOC.as_bytes()).unwrap();
        assert!(again.written.is_empty());
        assert_eq!(again.present, ["db.password", "vault.token"]);
        let line = again.describe();
        assert!(line.contains("2 already imported"), "{line}");
        assert!(!line.contains("s3cr3t"), "{line}");
    }

    #[test]
    fn a_bad_part_imports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bad = r#"{"systemd.credentials": [{"name": "ok", "text": "x"}, {"name": "../evil", "text": "y"}]}"#;
        let err = import(&ctx(dir.path()), bad.as_bytes()).unwrap_err();
        assert!(matches!(err, CredstoreError::Invalid(_)), "{err}");
        assert!(!dir.path().join("run").exists());
        assert!(!dir.path().join("evil").exists());
    }
}
