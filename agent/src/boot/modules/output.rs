//! `output`: where each stage's output also goes, read as cloud-init 22.4 reads it
//! (`util.get_output_cfg`): per cloud-init stage (`init`, `config`, `final`, else
//! `all`), a string for both streams, a list `[stdout, stderr]` or a mapping
//! `{output, error}`; `&1` for stderr means "as stdout"; each target is `> file`
//! (truncated when the stage starts), `>> file` (appended; a bare path means this) or
//! `| command` (its input). strap's own output log and console are unchanged: the
//! redirect is a copy, made of the scripts' lines as they wrote them and the stage
//! banners. `| tee [-a] FILE` is written to FILE directly (the console already shows
//! every line). Any other `| command` runs only on the real root; under another
//! `--root` it is recorded, not run. This module never fails a boot: a target that
//! cannot be opened is a warning and the stage goes on without it.

use nix::fcntl::OFlag;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::cloudconfig::{Node, Value};

use super::super::context::Boot;
use super::super::exec::Redirect;
use super::{type_name, ModuleError};

/// The config key.
pub const KEY: &str = "output";

/// The mode of files a redirect creates: cloud-init's redirect runs with umask 037.
const FILE_MODE: u32 = 0o640;

/// One target of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `>> file`: appended to.
    Append(String),
    /// `> file`: truncated when the stage starts.
    Truncate(String),
    /// `| command`: run by `/bin/sh -c`, fed on its input.
    Pipe(String),
}

impl Target {
    /// As cloud-init writes it after normalising (`>> /var/log/x`).
    pub fn format(&self) -> String {
        match self {
            Target::Append(p) => format!(">> {p}"),
            Target::Truncate(p) => format!("> {p}"),
            Target::Pipe(c) => format!("| {c}"),
        }
    }

    /// A pipe into `tee [-a] FILE` is that file, appended or truncated.
    fn as_file(&self) -> Option<Target> {
        match self {
            Target::Pipe(cmd) => {
                let words: Vec<&str> = cmd.split_whitespace().collect();
                let (append, file) = match words.as_slice() {
                    ["tee", "-a" | "--append", file] => (true, *file),
                    ["tee", file] => (false, *file),
                    _ => return None,
                };
                let plain = file.starts_with('/')
                    && !file.contains(|c: char| "$`\"'\\;&|<>*?~(){}[]".contains(c));
                plain.then(|| {
                    if append {
                        Target::Append(file.into())
                    } else {
                        Target::Truncate(file.into())
                    }
                })
            }
            other => Some(other.clone()),
        }
    }
}

/// cloud-init's name for one of strap's stages, as `output` keys it.
pub fn mode_of(stage: &str) -> Option<&'static str> {
    match stage {
        "init-network" => Some("init"),
        "modules-config" => Some("config"),
        "modules-final" => Some("final"),
        _ => None,
    }
}

/// The targets of stdout and stderr for cloud-init stage `mode`.
pub fn targets(config: &Node, mode: &str) -> Result<[Option<Target>; 2], ModuleError> {
    let Some(output) = config.get(KEY) else {
        return Ok([None, None]);
    };
    if !matches!(output.value, Value::Map(_)) {
        return Err(super::wrong_type(KEY, "a mapping of stages", output));
    }
    let (key, stage) = match output.get(mode) {
        Some(n) => (format!("{KEY}.{mode}"), n),
        None => match output.get("all") {
            Some(n) => (format!("{KEY}.all"), n),
            None => return Ok([None, None]),
        },
    };
    let text = |n: Option<&Node>| -> Result<Option<String>, ModuleError> {
        match n.map(|n| (&n.value, n)) {
            None | Some((Value::Null, _)) => Ok(None),
            Some((Value::Str(s), _)) if s.is_empty() => Ok(None),
            Some((Value::Str(s), _)) => Ok(Some(s.clone())),
            Some((_, n)) => Err(ModuleError::Invalid {
                key: key.clone(),
                message: format!("a target must be a string, not {}", type_name(n)),
            }),
        }
    };
    let [out, err] = match &stage.value {
        Value::Str(_) => {
            let t = text(Some(stage))?;
            [t.clone(), t]
        }
        Value::Seq(items) => [text(items.first())?, text(items.get(1))?],
        Value::Map(_) => [text(stage.get("output"))?, text(stage.get("error"))?],
        _ => [None, None],
    };
    let err = if err.as_deref() == Some("&1") {
        out.clone()
    } else {
        err
    };
    Ok([parse(&key, out)?, parse(&key, err)?])
}

/// One normalised target: `>>`, `>` or `|` then the rest; anything else is appended to.
fn parse(key: &str, fmt: Option<String>) -> Result<Option<Target>, ModuleError> {
    let Some(fmt) = fmt else { return Ok(None) };
    let val = fmt.trim_start();
    let (op, rest) = [">>", ">", "|"]
        .iter()
        .find_map(|op| val.strip_prefix(op).map(|rest| (*op, rest.trim())))
        .unwrap_or((">>", val.trim()));
    if rest.is_empty() {
        return Err(ModuleError::Invalid {
            key: key.into(),
            message: format!("`{fmt}` names no file or command"),
        });
    }
    Ok(Some(match op {
        ">>" => Target::Append(rest.into()),
        ">" => Target::Truncate(rest.into()),
        _ => Target::Pipe(rest.into()),
    }))
}

/// Open the redirect of the stage `boot` is in, as the config asks, and give it to the
/// output log (closing the previous stage's). Problems are warnings.
pub fn redirect_stage(boot: &mut Boot<'_>) {
    let Some(mode) = mode_of(&boot.stage) else {
        return;
    };
    let targets = match targets(&boot.config, mode) {
        Ok(t) => t,
        Err(err) => {
            boot.out.set_redirect(None);
            boot.warn(&format!("output redirection for the {mode} stage: {err}"));
            return;
        }
    };
    let mut redirect = Redirect::default();
    let mut problems = Vec::new();
    let [out, err] = targets;
    let same = out == err;
    for (stream, target) in [("stdout", out), ("stderr", err)] {
        let Some(target) = target else { continue };
        if same && stream == "stderr" {
            redirect.err = redirect.out;
            continue;
        }
        match open(boot, mode, &target, &mut redirect) {
            Ok(Some(i)) => {
                if stream == "stdout" {
                    redirect.out = Some(i);
                } else {
                    redirect.err = Some(i);
                }
            }
            Ok(None) => {}
            Err(e) => problems.push(format!(
                "output redirection of the {mode} stage's {stream} to `{}`: {e}",
                target.format()
            )),
        }
    }
    let any = redirect.out.is_some() || redirect.err.is_some();
    boot.out.set_redirect(any.then_some(redirect));
    for p in problems {
        boot.warn(&p);
    }
}

/// Open one target; `None` when it is a command recorded instead of run.
fn open(
    boot: &Boot<'_>,
    mode: &str,
    target: &Target,
    redirect: &mut Redirect,
) -> Result<Option<usize>, String> {
    let target = target.as_file().unwrap_or_else(|| target.clone());
    let sink: Box<dyn Write + Send> = match &target {
        Target::Append(p) | Target::Truncate(p) => {
            // cloud-init runs in `/`: a relative path is relative to it.
            let machine = if p.starts_with('/') {
                p.clone()
            } else {
                format!("/{p}")
            };
            // Beneath the root, by the folder's handle, never through a link.
            let path = boot.ctx.path(machine).map_err(|e| e.to_string())?;
            let (folder, name) = crate::context::beneath::folder_of(boot.ctx.root(), &path)
                .map_err(|e| e.to_string())?;
            let flags = if matches!(target, Target::Append(_)) {
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND
            } else {
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC
            };
            Box::new(
                folder
                    .open_for_output(&name, flags, FILE_MODE)
                    .map_err(|e| e.to_string())?,
            )
        }
        Target::Pipe(cmd) => {
            if !boot.on_real_root() {
                let line = format!(
                    "output: would pipe the {mode} stage's output to `{cmd}` (not run under --root)"
                );
                boot.out.log_only(&line);
                boot.log.line("INFO", &line);
                return Ok(None);
            }
            let mut child = Command::new("/bin/sh")
                .args(["-c", cmd])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .current_dir("/")
                .spawn()
                .map_err(|e| format!("cannot start /bin/sh: {e}"))?;
            let Some(stdin) = child.stdin.take() else {
                return Err("the command has no input".into());
            };
            redirect.children.push(child);
            Box::new(stdin)
        }
    };
    redirect.sinks.push(sink);
    Ok(Some(redirect.sinks.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> Node {
        crate::cloudconfig::load(yaml).unwrap()
    }

    fn fmt(t: [Option<Target>; 2]) -> [Option<String>; 2] {
        t.map(|t| t.map(|t| t.format()))
    }

    #[test]
    fn reads_targets_as_cloud_init_does() {
        let c = cfg("output: {all: '| tee -a /var/log/cloud-init-output.log'}\n");
        let want = Some("| tee -a /var/log/cloud-init-output.log".to_string());
        assert_eq!(
            fmt(targets(&c, "final").unwrap()),
            [want.clone(), want.clone()]
        );
        let c = cfg("output:\n  init: ['>/var/log/o', '  /var/log/e']\n  config: {output: '>>/x', error: '&1'}\n  all: log\n");
        assert_eq!(
            fmt(targets(&c, "init").unwrap()),
            [Some("> /var/log/o".into()), Some(">> /var/log/e".into())]
        );
        assert_eq!(
            fmt(targets(&c, "config").unwrap()),
            [Some(">> /x".into()), Some(">> /x".into())]
        );
        assert_eq!(
            fmt(targets(&c, "final").unwrap()),
            [Some(">> log".into()), Some(">> log".into())]
        );
        let c = cfg("output: {init: [null, '|logger -t x']}\n");
        assert_eq!(
            fmt(targets(&c, "init").unwrap()),
            [None, Some("| logger -t x".into())]
        );
        assert_eq!(fmt(targets(&c, "final").unwrap()), [None, None]);
        assert_eq!(fmt(targets(&cfg("a: 1\n"), "init").unwrap()), [None, None]);
    }

    #[test]
    fn bad_output_is_an_error_naming_the_key() {
        let err = targets(&cfg("output: '>> /x'\n"), "init").unwrap_err();
        assert!(err.to_string().contains("`output`"), "{err}");
        let err = targets(&cfg("output: {all: [1]}\n"), "init").unwrap_err();
        assert!(err.to_string().contains("output.all"), "{err}");
        let err = targets(&cfg("output: {final: '|  '}\n"), "final").unwrap_err();
        assert!(err.to_string().contains("names no file"), "{err}");
    }

    /// cloud-init's `util.get_output_cfg` (22.4 and 25) as the peer, where it is installed.
    #[test]
    fn targets_agree_with_cloud_init() {
        let docs = [
            "output: {all: '| tee -a /var/log/cloud-init-output.log'}",
            "output: {all: '>/x', init: ['  >>  /a b ', '&1'], final: {output: '|cat', error: e}}",
            "output: {config: [null, '> /e'], final: []}",
            "output: {final: {error: '/e'}, all: 'x'}",
            "output: {init: ['|a'], config: ''}",
            "output: {}",
            "runcmd: [x]",
        ];
        let script = "import sys, json, yaml\nfrom cloudinit import util\n\
            for doc in sys.stdin.read().split('\\n---\\n'):\n\
            \x20   cfg = yaml.safe_load(doc)\n\
            \x20   print(json.dumps([util.get_output_cfg(cfg, m) for m in ('init', 'config', 'final')]))\n";
        let input = docs.join("\n---\n");
        for (version, text) in crate::boot::modules::system::cloud_init_oracles(script, &input) {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), docs.len(), "cloud-init {version}");
            for (doc, line) in docs.iter().zip(lines) {
                let theirs: Vec<[Option<String>; 2]> = serde_json::from_str(line).unwrap();
                // An empty target redirects nothing there either (`if outfmt:`).
                let theirs: Vec<[Option<String>; 2]> = theirs
                    .into_iter()
                    .map(|pair| pair.map(|t| t.filter(|t| !t.is_empty())))
                    .collect();
                let ours: Vec<[Option<String>; 2]> = ["init", "config", "final"]
                    .iter()
                    .map(|m| fmt(targets(&cfg(doc), m).unwrap()))
                    .collect();
                assert_eq!(ours, theirs, "cloud-init {version}: {doc}");
            }
        }
    }

    #[test]
    fn tee_into_a_plain_file_is_that_file() {
        let t = |s: &str| Target::Pipe(s.into()).as_file();
        assert_eq!(
            t("tee -a /var/log/x.log"),
            Some(Target::Append("/var/log/x.log".into()))
        );
        assert_eq!(t("tee /x"), Some(Target::Truncate("/x".into())));
        assert_eq!(t("tee -a /var/log/$HOST.log"), None);
        assert_eq!(t("tee -a /x | logger"), None);
        assert_eq!(t("logger -t ci"), None);
    }
}
