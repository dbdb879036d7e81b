//! `yum_add_repo`: `yum_repos` (and `yum_repo_dir`) as cloud-init 22.4's
//! `cc_yum_add_repo` writes them, on the RHEL family (Amazon Linux included): one INI
//! file `<yum_repo_dir>/<id>.repo` per repository (spaces of the id become `-`), never
//! over a file that exists. Option names are lowercased, trimmed and their `-` become
//! `_`; booleans are written `1`/`0`, lists one item per line (continuation lines), other
//! values as Python prints them; one of `baseurl`, `metalink` or `mirrorlist` is required
//! (a repository with none is skipped with a warning, as cloud-init 25 does; 22.4
//! required `baseurl`). Nothing is run: yum reads the files.

use crate::cloudconfig::{Node, Value};

use super::super::context::{Boot, VERSION};
use super::system::{self, Family, OsRelease};
use super::{type_name, wrong_type, ModuleError, Outcome};

/// The options that say where a repository is; it needs one (cloud-init 25's rule).
const LOCATIONS: [&str; 3] = ["baseurl", "metalink", "mirrorlist"];

/// Where the files go unless `yum_repo_dir` says otherwise.
pub const DEFAULT_DIR: &str = "/etc/yum.repos.d/";

/// The file name cloud-init gives a repository id.
pub fn canonical_id(id: &str) -> String {
    id.replace(' ', "-")
}

/// A value as cloud-init's `_format_repo_value` writes it.
fn format_value(node: &Node) -> String {
    match &node.value {
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Seq(items) => items
            .iter()
            .map(format_value)
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Str(s) | Value::Timestamp(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => node.to_python_repr(),
    }
}

/// The options of one repository: names normalised, last value of a name kept at the
/// name's first place (a Python dict).
pub fn options(config: &Node) -> Result<Vec<(String, String)>, String> {
    let entries = match &config.value {
        Value::Null => return Ok(Vec::new()),
        Value::Map(entries) => entries,
        _ => return Err(format!("must be a mapping, not {}", type_name(config))),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in entries {
        let name = k.key_text().to_lowercase().trim().replace('-', "_");
        if name.is_empty() {
            continue;
        }
        let value = format_value(v);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    Ok(out)
}

/// The `.repo` file: Python's `ConfigParser.write` of one section, after a header.
pub fn render(id: &str, options: &[(String, String)], header: &str) -> String {
    let mut text = format!("{header}\n[{id}]\n");
    for (k, v) in options {
        text.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
    }
    text.push('\n');
    text
}

/// `yum_add_repo`.
pub fn yum_add_repo(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(repos) = boot.cfg("yum_repos").cloned() else {
        return Ok(Outcome::Skipped("no `yum_repos` in cloud-config".into()));
    };
    let entries = match &repos.value {
        Value::Map(e) if !e.is_empty() => e.clone(),
        Value::Map(_) | Value::Null | Value::Bool(false) => {
            return Ok(Outcome::Skipped("`yum_repos` is empty".into()))
        }
        _ => return Err(wrong_type("yum_repos", "a mapping of repositories", &repos)),
    };
    let dir = match boot.cfg("yum_repo_dir").cloned() {
        None => DEFAULT_DIR.to_string(),
        Some(n) => n
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| wrong_type("yum_repo_dir", "a path", &n))?,
    };
    let os = OsRelease::load(boot.ctx);
    if os.family() != Family::Rhel {
        return Ok(Outcome::Skipped(format!(
            "yum repositories are for the RHEL family; this root is {}",
            if os.id.is_empty() {
                "of no known distro"
            } else {
                os.id.as_str()
            }
        )));
    }
    let now: chrono::DateTime<chrono::Utc> = boot.ctx.now().into();
    let header = format!("# Created by strap v. {VERSION} on {}", now.to_rfc2822());
    let mut pending: Vec<String> = Vec::new();
    let mut tail = Vec::new();
    let mut failures = Vec::new();
    for (k, conf) in &entries {
        let id = k.key_text();
        let canon = canonical_id(&id);
        let file = format!("{}/{canon}.repo", dir.trim_end_matches('/'));
        if system::root_path(boot.ctx, &file)?.exists() {
            tail.push(format!("{file}: exists, repository {id} skipped"));
            continue;
        }
        if pending.contains(&canon) {
            tail.push(format!(
                "{file}: already written for another id, {id} skipped"
            ));
            continue;
        }
        let opts = match options(conf) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("yum_repos.{id} (line {}): {e}", k.mark.line));
                continue;
            }
        };
        if !opts.iter().any(|(n, _)| LOCATIONS.contains(&n.as_str())) {
            boot.warn(&format!(
                "yum_repos.{id} (line {}): no `baseurl`, `metalink` or `mirrorlist`; \
                 repository skipped",
                k.mark.line
            ));
            continue;
        }
        system::write(boot.ctx, &file, &render(&canon, &opts, &header), 0o644)?;
        tail.push(format!("wrote {file}"));
        pending.push(canon);
    }
    if !failures.is_empty() {
        return Err(ModuleError::Entries {
            failures,
            attempted: entries.len(),
        });
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos(yaml: &str) -> Vec<(String, String)> {
        let cfg = crate::cloudconfig::load(yaml).unwrap();
        let repos = cfg.get("yum_repos").unwrap().as_map().unwrap();
        repos
            .iter()
            .map(|(k, v)| {
                let id = canonical_id(&k.key_text());
                (id.clone(), render(&id, &options(v).unwrap(), "# H"))
            })
            .collect()
    }

    #[test]
    fn renders_as_cloud_init_does() {
        let got = repos(
            "yum_repos:\n  my repo:\n    baseurl: [http://a/$basearch, http://b]\n    \
             Enabled: true\n    GPG-Check: false\n    priority: 3\n    cost: 1.5\n    name: ''\n",
        );
        assert_eq!(
            got,
            vec![(
                "my-repo".to_string(),
                "# H\n[my-repo]\nbaseurl = http://a/$basearch\n\thttp://b\nenabled = 1\n\
                 gpg_check = 0\npriority = 3\ncost = 1.5\nname = \n\n"
                    .to_string()
            )]
        );
    }

    /// cloud-init's `_format_repository_config` (22.4 and 25) as the peer (its header line aside).
    #[test]
    fn agrees_with_cloud_init() {
        let doc = "yum_repos:\n  epel testing:\n    baseurl: http://x/$releasever\n    \
                   enabled: false\n    gpgkey: [file:///a, file:///b]\n    metadata_expire: 300\n    \
                   skip_if_unavailable: yes\n    exclude: null\n    A-b: c\n  plain:\n    baseurl: http://y\n";
        let script = "import sys, yaml\nfrom cloudinit.config import cc_yum_add_repo as m\n\
            cfg = yaml.safe_load(sys.stdin.read())\n\
            for k, v in cfg['yum_repos'].items():\n\
            \x20   c = {kk.lower().strip().replace('-', '_'): vv for kk, vv in v.items()}\n\
            \x20   t = m._format_repository_config(m._canonicalize_id(k), c)\n\
            \x20   sys.stdout.write('# H\\n' + t.split('\\n', 1)[1] + '\\x00')\n";
        let ours: Vec<String> = repos(doc).into_iter().map(|(_, t)| t).collect();
        for (version, theirs) in system::cloud_init_oracles(script, doc) {
            let theirs: Vec<&str> = theirs.split('\0').filter(|s| !s.is_empty()).collect();
            assert_eq!(ours, theirs, "cloud-init {version}");
        }
    }

    #[test]
    fn a_repository_that_is_not_a_mapping_is_an_error() {
        let cfg = crate::cloudconfig::load("a: [x]\n").unwrap();
        assert!(options(cfg.get("a").unwrap())
            .unwrap_err()
            .contains("must be a mapping"));
    }
}
