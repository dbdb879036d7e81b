//! Where the shared config and credentials files are (HOME, USERPROFILE, HOMEDRIVE +
//! HOMEPATH, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `~` expansion, each SDK's
//! variant), and reading them through the [`Context`] so tests run on a fake root.

use std::path::PathBuf;

use super::env_vars::*;
use super::profile::{self, FileKind, ParseError, ProfileSet};
use super::Sdk;
use crate::context::Context;

/// The platform whose path rules apply (the shared tests cover both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Linux,
    Windows,
}

/// The home directory: `HOME`, then on Windows `USERPROFILE`, then `HOMEDRIVE`+`HOMEPATH`.
pub fn home_dir(var: &dyn Fn(&str) -> Option<String>, platform: Platform) -> Option<String> {
    if let Some(h) = var(HOME) {
        return Some(h);
    }
    if platform == Platform::Windows {
        if let Some(h) = var(USERPROFILE) {
            return Some(h);
        }
        if let (Some(d), Some(p)) = (var(HOMEDRIVE), var(HOMEPATH)) {
            return Some(format!("{d}{p}"));
        }
    }
    None
}

/// Expand a leading `~` (all SDKs that expand), and `$VAR`/`${VAR}` (botocore only).
fn expand(
    raw: &str,
    home: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
    sdk: Sdk,
    sep: char,
) -> String {
    let mut out = raw.to_string();
    if let Some(home) = home {
        if out == "~" {
            out = home.to_string();
        } else if let Some(rest) = out.strip_prefix("~/").or_else(|| out.strip_prefix("~\\")) {
            out = format!("{home}{sep}{rest}");
        }
    }
    if sdk.is_botocore_family() && out.contains('$') {
        let mut expanded = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find('$') {
            expanded.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(e) => (&inner[..e], &inner[e + 1..]),
                    None => ("", after),
                }
            } else {
                let e = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..e], &after[e..])
            };
            match (name.is_empty(), var(name)) {
                (false, Some(v)) => expanded.push_str(&v),
                _ => expanded.push_str(&rest[i..rest.len() - tail.len()]),
            }
            rest = tail;
        }
        expanded.push_str(rest);
        out = expanded;
    }
    out
}

/// Where one file is and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLocation {
    /// `None` when no home directory is known and no variable names the file, or when
    /// the variable is empty (botocore, CLI and Rust then read no file).
    pub path: Option<String>,
    /// The variable that named it, if any.
    pub from_var: Option<&'static str>,
}

/// Locate the config (`kind = Config`) or credentials file as `sdk` does.
pub fn locate(
    var: &dyn Fn(&str) -> Option<String>,
    platform: Platform,
    sdk: Sdk,
    kind: FileKind,
) -> FileLocation {
    let sep = if platform == Platform::Windows {
        '\\'
    } else {
        '/'
    };
    let (name, leaf) = match kind {
        FileKind::Config => (AWS_CONFIG_FILE, "config"),
        FileKind::Credentials => (AWS_SHARED_CREDENTIALS_FILE, "credentials"),
    };
    let home = home_dir(var, platform);
    match var(name) {
        Some(v) if !(v.is_empty() && matches!(sdk, Sdk::Go | Sdk::Js)) => {
            if v.is_empty() {
                return FileLocation {
                    path: None,
                    from_var: Some(name),
                };
            }
            let path = if sdk == Sdk::Go {
                v
            } else if sdk == Sdk::Js {
                // Only a leading `~/` is expanded.
                match (v.strip_prefix("~/"), &home) {
                    (Some(rest), Some(h)) => format!("{h}{sep}{rest}"),
                    _ => v,
                }
            } else {
                expand(&v, home.as_deref(), var, sdk, sep)
            };
            FileLocation {
                path: Some(path),
                from_var: Some(name),
            }
        }
        _ => FileLocation {
            path: home.map(|h| format!("{h}{sep}.aws{sep}{leaf}")),
            from_var: None,
        },
    }
}

/// One file as read: where, whether it exists, its parsed profiles.
#[derive(Clone, Debug, Default)]
pub struct LoadedFile {
    pub location: Option<String>,
    pub from_var: Option<&'static str>,
    pub exists: bool,
    pub set: ProfileSet,
}

/// Both files, parsed in one dialect.
#[derive(Clone, Debug, Default)]
pub struct ProfileFiles {
    pub config: LoadedFile,
    pub credentials: LoadedFile,
}

impl ProfileFiles {
    /// The two files merged per key, the credentials file winning.
    pub fn merged(&self) -> ProfileSet {
        self.config.set.clone().merge_over(&self.credentials.set)
    }

    /// Whether a profile exists in either file.
    pub fn has_profile(&self, name: &str) -> bool {
        self.config.set.get(name).is_some() || self.credentials.set.get(name).is_some()
    }

    /// Every profile name in either file, sorted.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .config
            .set
            .profiles
            .keys()
            .chain(self.credentials.set.profiles.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Map a path as the process sees it to where it lives under the context's root.
pub fn real_path(ctx: &Context, path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        ctx.path(&p).unwrap_or(p)
    } else {
        ctx.root().join(p)
    }
}

/// Largest shared config or credentials file strap reads.
pub const MAX_PROFILE_FILE: u64 = 8 * 1024 * 1024;

fn load_one(ctx: &Context, sdk: Sdk, kind: FileKind) -> Result<LoadedFile, ParseError> {
    let var = |k: &str| ctx.var(k);
    let loc = locate(&var, Platform::Linux, sdk, kind);
    let mut out = LoadedFile {
        location: loc.path.clone(),
        from_var: loc.from_var,
        ..LoadedFile::default()
    };
    let Some(path) = loc.path else {
        return Ok(out);
    };
    let Ok(file) = std::fs::File::open(real_path(ctx, &path)) else {
        return Ok(out);
    };
    // Bounded: a file of one endless line (or `/dev/zero`) is an error naming it, not a
    // read until memory runs out.
    let mut bytes = Vec::new();
    {
        use std::io::Read as _;
        if file
            .take(MAX_PROFILE_FILE + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return Ok(out);
        }
    }
    out.exists = true;
    if bytes.len() as u64 > MAX_PROFILE_FILE {
        return Err(ParseError {
            path: path.into(),
            line: 0,
            message: format!(
                "the file is larger than {} MiB, more than any shared config or credentials file needs; strap does not read it",
                MAX_PROFILE_FILE >> 20
            ),
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) if sdk.is_botocore_family() => {
            return Err(ParseError {
                path: path.into(),
                line: 0,
                message: "file is not valid UTF-8".into(),
            })
        }
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    out.set = profile::parse(&text, path.as_ref(), kind, sdk.dialect())?;
    Ok(out)
}

/// Read and parse both files as `sdk` would.
pub fn load(ctx: &Context, sdk: Sdk) -> Result<ProfileFiles, ParseError> {
    Ok(ProfileFiles {
        config: load_one(ctx, sdk, FileKind::Config)?,
        credentials: load_one(ctx, sdk, FileKind::Credentials)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_config_file_past_the_bound_is_an_error_naming_it_and_never_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("config");
        // One endless line, as `/dev/zero` would give: an error naming the file.
        for path in [big.to_str().unwrap(), "/dev/zero"] {
            if path != "/dev/zero" {
                std::fs::write(&big, vec![b'x'; (MAX_PROFILE_FILE + 10) as usize]).unwrap();
            }
            let ctx = Context::fixed(
                [
                    ("AWS_CONFIG_FILE", path),
                    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
                ],
                "/",
            );
            let err = load(&ctx, Sdk::Cli).unwrap_err();
            assert!(
                err.to_string().contains(path) && err.to_string().contains("larger than 8 MiB"),
                "{err}"
            );
        }
        // A hundred thousand profiles parse (the parser is linear in the file).
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("[profile p{i}]\nregion = us-east-1\n"));
        }
        std::fs::write(&big, text).unwrap();
        let ctx = Context::fixed(
            [
                ("AWS_CONFIG_FILE", big.to_str().unwrap()),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ],
            "/",
        );
        for sdk in [Sdk::Cli, Sdk::Js] {
            let files = load(&ctx, sdk).unwrap();
            assert_eq!(files.config.set.profiles.len(), 100_000, "{sdk:?}");
        }
    }

    #[test]
    fn every_case_of_the_shared_file_location_tests_passes() {
        let text = include_str!("../../tests/data/aws-sdk/file-location-tests.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let tests = doc["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 9);
        for t in tests {
            let name = t["name"].as_str().unwrap();
            let env: BTreeMap<String, String> =
                serde_json::from_value(t["environment"].clone()).unwrap();
            let var = |k: &str| env.get(k).cloned();
            let platform = match t["platform"].as_str().unwrap() {
                "windows" => Platform::Windows,
                _ => Platform::Linux,
            };
            for sdk in [Sdk::Cli, Sdk::Rust] {
                let c = locate(&var, platform, sdk, FileKind::Config);
                let k = locate(&var, platform, sdk, FileKind::Credentials);
                assert_eq!(c.path.as_deref(), t["configLocation"].as_str(), "{name}");
                assert_eq!(
                    k.path.as_deref(),
                    t["credentialsLocation"].as_str(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn tilde_and_variables_expand_per_sdk() {
        let env: BTreeMap<&str, &str> = [
            ("HOME", "/h"),
            ("AWS_SHARED_CREDENTIALS_FILE", "$HOME/alt"),
            ("AWS_CONFIG_FILE", "~/cfg"),
        ]
        .into();
        let var = |k: &str| env.get(k).map(|s| s.to_string());
        let cli = locate(&var, Platform::Linux, Sdk::Cli, FileKind::Credentials);
        assert_eq!(cli.path.as_deref(), Some("/h/alt"));
        let rust = locate(&var, Platform::Linux, Sdk::Rust, FileKind::Credentials);
        assert_eq!(rust.path.as_deref(), Some("$HOME/alt"));
        let rust = locate(&var, Platform::Linux, Sdk::Rust, FileKind::Config);
        assert_eq!(rust.path.as_deref(), Some("/h/cfg"));
        let go = locate(&var, Platform::Linux, Sdk::Go, FileKind::Config);
        assert_eq!(go.path.as_deref(), Some("~/cfg"));
    }

    #[test]
    fn empty_variable_means_no_file_except_in_go() {
        let env: BTreeMap<&str, &str> =
            [("HOME", "/h"), ("AWS_SHARED_CREDENTIALS_FILE", "")].into();
        let var = |k: &str| env.get(k).map(|s| s.to_string());
        assert_eq!(
            locate(&var, Platform::Linux, Sdk::Cli, FileKind::Credentials).path,
            None
        );
        assert_eq!(
            locate(&var, Platform::Linux, Sdk::Go, FileKind::Credentials)
                .path
                .as_deref(),
            Some("/h/.aws/credentials")
        );
    }
}
