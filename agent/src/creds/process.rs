//! `credential_process`: run the profile's command and read its JSON (Version 1), as
//! each SDK does: botocore and the CLI split the command shell-style and run it without a
//! shell; aws-sdk-rust and Go run it under `sh -c`. Errors name the command and carry its
//! stderr; the credentials it prints are never logged.

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Credentials, Sdk};
use crate::secret::Secret;

/// How long the command may run (the Go SDK's default; the others have none, so this is
/// strap's guard against a hung helper).
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Most output the command may print (the AWS SDK for Java's `processOutputLimit`, 64000
/// bytes; the Python and JS SDKs read without a bound). More is an error, and strap stops
/// reading: a helper that never stops printing cannot fill memory.
pub const MAX_PROCESS_OUTPUT: u64 = 64_000;
/// How much of a failing command's stderr the error keeps (its start).
pub const MAX_PROCESS_STDERR: u64 = 4096;

/// Why `credential_process` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("credential_process {command:?} is empty or has unbalanced quotes: fix it in {at}")]
    BadCommand { command: String, at: String },
    #[error("cannot start credential_process {command:?} ({at}): {reason}; check the program exists and is executable")]
    Spawn {
        command: String,
        at: String,
        reason: String,
    },
    #[error("credential_process {command:?} ({at}) did not finish within {secs} s")]
    Timeout {
        command: String,
        at: String,
        secs: u64,
    },
    #[error("credential_process {command:?} ({at}) exited with {status}: {stderr}")]
    Failed {
        command: String,
        at: String,
        status: String,
        stderr: String,
    },
    #[error("credential_process {command:?} ({at}) printed output that is not valid credentials JSON: {reason}")]
    Output {
        command: String,
        at: String,
        reason: String,
    },
}

/// Split a command line as Python's `shlex.split` does (POSIX rules).
pub fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let x = chars.next()?;
                            if !matches!(x, '"' | '\\' | '$' | '`' | '\n') {
                                cur.push('\\');
                            }
                            cur.push(x);
                        }
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// Parse the process's JSON by `sdk`'s rules. `fallback_account` is the profile's
/// `aws_account_id`.
pub fn parse_output(
    stdout: &[u8],
    sdk: Sdk,
    fallback_account: Option<&str>,
) -> Result<Credentials, String> {
    let v: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let field = |name: &str| -> Option<&serde_json::Value> {
        if sdk == Sdk::Rust {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        } else {
            obj.get(name)
        }
    };
    match field("Version") {
        Some(serde_json::Value::Number(n)) if n.as_f64() == Some(1.0) => {}
        Some(other) => {
            return Err(format!(
                "unsupported Version {other} for credential process provider, supported versions: 1"
            ))
        }
        None => return Err("the Version key is missing (supported versions: 1)".into()),
    }
    let text = |name: &str| -> Result<String, String> {
        match field(name) {
            Some(serde_json::Value::String(s)) if sdk == Sdk::Go && s.is_empty() => {
                Err(format!("{name} is empty"))
            }
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{name} is not a string")),
            None => Err(format!("missing required key {name}")),
        }
    };
    let access_key_id = text("AccessKeyId")?;
    let secret = text("SecretAccessKey")?;
    let session_token = match field("SessionToken") {
        Some(serde_json::Value::String(s)) => Some(Secret::new(s.clone())),
        _ => None,
    };
    let expiration = match field("Expiration") {
        Some(serde_json::Value::String(s)) => Some(parse_time(s, sdk.is_botocore_family())?),
        Some(serde_json::Value::Null) | None => None,
        Some(_) => return Err("Expiration is not a string".into()),
    };
    let account_id = match field("AccountId") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => fallback_account.map(str::to_string),
    };
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token,
        expiration,
        account_id,
    })
}

/// Parse a timestamp: RFC 3339, or (lenient, as botocore's dateutil) a few ISO 8601 forms.
pub fn parse_time(s: &str, lenient: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if lenient {
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
        ] {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
                return Ok(t.and_utc());
            }
        }
        if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(format!("expiration {s:?} is not an RFC 3339 timestamp"))
}

/// Run `command` (from `at`, `file:line`) and parse its credentials.
pub async fn run(
    command: &str,
    at: &str,
    sdk: Sdk,
    fallback_account: Option<&str>,
    envs: &[(String, String)],
) -> Result<Credentials, ProcessError> {
    let mut cmd = if sdk.is_botocore_family() {
        let words = shell_split(command)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| ProcessError::BadCommand {
                command: command.to_string(),
                at: at.to_string(),
            })?;
        let mut c = tokio::process::Command::new(&words[0]);
        c.args(&words[1..]);
        c
    } else {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(command);
        c
    };
    cmd.env_clear()
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| ProcessError::Spawn {
        command: command.to_string(),
        at: at.to_string(),
        reason: e.to_string(),
    })?;
    let out = tokio::time::timeout(PROCESS_TIMEOUT, bounded_output(child))
        .await
        .map_err(|_| ProcessError::Timeout {
            command: command.to_string(),
            at: at.to_string(),
            secs: PROCESS_TIMEOUT.as_secs(),
        })?
        .map_err(|e| ProcessError::Spawn {
            command: command.to_string(),
            at: at.to_string(),
            reason: e.to_string(),
        })?;
    if out.stdout.len() as u64 > MAX_PROCESS_OUTPUT {
        return Err(ProcessError::Output {
            command: command.to_string(),
            at: at.to_string(),
            reason: format!(
                "it printed more than {MAX_PROCESS_OUTPUT} bytes (stopped reading there)"
            ),
        });
    }
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.stderr_cut {
            stderr.push_str(&format!(" … (stderr cut at {MAX_PROCESS_STDERR} bytes)"));
        }
        return Err(ProcessError::Failed {
            command: command.to_string(),
            at: at.to_string(),
            status: out.status.to_string(),
            stderr,
        });
    }
    parse_output(&out.stdout, sdk, fallback_account).map_err(|reason| ProcessError::Output {
        command: command.to_string(),
        at: at.to_string(),
        reason,
    })
}

/// What the command printed, bounded.
struct Bounded {
    status: std::process::ExitStatus,
    /// At most [`MAX_PROCESS_OUTPUT`] + 1 bytes (one more says it printed too much).
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stderr_cut: bool,
}

/// Read the child's stdout and stderr, each only up to its bound, and wait for it. Past
/// the stdout bound the child is killed (it may never stop printing); past the stderr
/// bound the rest is read and dropped, so the child never blocks on a full pipe.
async fn bounded_output(mut child: tokio::process::Child) -> std::io::Result<Bounded> {
    use tokio::io::AsyncReadExt as _;
    let pid = child.id();
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();
    let read_stdout = async move {
        let mut out = Vec::new();
        if let Some(mut pipe) = stdout_pipe {
            (&mut pipe)
                .take(MAX_PROCESS_OUTPUT + 1)
                .read_to_end(&mut out)
                .await?;
        }
        if out.len() as u64 > MAX_PROCESS_OUTPUT {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        Ok::<_, std::io::Error>(out)
    };
    let read_stderr = async move {
        let mut out = Vec::new();
        let mut cut = false;
        if let Some(mut pipe) = stderr_pipe {
            (&mut pipe)
                .take(MAX_PROCESS_STDERR + 1)
                .read_to_end(&mut out)
                .await?;
            if out.len() as u64 > MAX_PROCESS_STDERR {
                cut = true;
                out.truncate(MAX_PROCESS_STDERR as usize);
                tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await?;
            }
        }
        Ok::<_, std::io::Error>((out, cut))
    };
    let (stdout, stderr) = tokio::join!(read_stdout, read_stderr);
    let stdout = stdout?;
    let (stderr, stderr_cut) = stderr?;
    let status = child.wait().await?;
    Ok(Bounded {
        status,
        stdout,
        stderr,
        stderr_cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_shlex() {
        assert_eq!(
            shell_split(r#"echo '{"a": 1}' | cat"#).unwrap(),
            vec!["echo", r#"{"a": 1}"#, "|", "cat"]
        );
        assert_eq!(
            shell_split(r#"a "b c" d\ e"#).unwrap(),
            vec!["a", "b c", "d e"]
        );
        assert!(shell_split("a 'b").is_none());
    }

    #[test]
    fn version_must_be_the_number_one() {
        let e = parse_output(
            br#"{"Version":"1","AccessKeyId":"a","SecretAccessKey":"b"}"#,
            Sdk::Cli,
            None,
        )
        .unwrap_err();
        assert!(e.contains("unsupported Version"), "{e}");
        let c = parse_output(
            br#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"2030-01-01T00:00:00Z"}"#,
            Sdk::Cli,
            Some("123"),
        )
        .unwrap();
        assert_eq!(c.access_key_id, "a");
        assert_eq!(c.account_id.as_deref(), Some("123"));
        assert!(c.expiration.is_some());
    }

    #[test]
    fn rust_reads_keys_case_insensitively() {
        let body = br#"{"version":1,"accesskeyid":"a","secretaccesskey":"b"}"#;
        assert!(parse_output(body, Sdk::Rust, None).is_ok());
        assert!(parse_output(body, Sdk::Cli, None).is_err());
    }

    #[tokio::test]
    async fn pipes_work_only_under_a_shell() {
        let cmd =
            r#"echo '{"Version": 1, "AccessKeyId": "AKIDPIPE", "SecretAccessKey": "s"}' | cat"#;
        let path = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let rust = run(cmd, "config:3", Sdk::Rust, None, &path).await.unwrap();
        assert_eq!(rust.access_key_id, "AKIDPIPE");
        let cli = run(cmd, "config:3", Sdk::Cli, None, &path)
            .await
            .unwrap_err();
        assert!(matches!(cli, ProcessError::Output { .. }), "{cli}");
    }

    #[tokio::test]
    async fn failure_names_the_command_and_carries_stderr() {
        let path = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let e = run(
            "sh -c 'echo boom >&2; exit 1'",
            "config:7",
            Sdk::Cli,
            None,
            &path,
        )
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("boom") && msg.contains("config:7") && msg.contains("sh -c"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn endless_output_and_floods_of_stderr_are_bounded() {
        let path = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        // A helper that never stops printing: stopped after the bound, never held whole.
        let e = run("yes", "config:3", Sdk::Cli, None, &path)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("more than 64000 bytes"), "{msg}");
        // 50 MB on stderr then a failure: the error keeps the start of it only.
        let e = run(
            "sh -c 'head -c 50000000 /dev/zero | tr \"\\0\" x >&2; exit 3'",
            "config:4",
            Sdk::Cli,
            None,
            &path,
        )
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.len() < 5000 + 300, "{} bytes", msg.len());
        assert!(
            msg.contains("stderr cut at 4096 bytes"),
            "{}",
            &msg[msg.len() - 80..]
        );
    }
}
