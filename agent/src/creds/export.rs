//! `strap creds export`: credentials printed byte for byte as
//! `aws configure export-credentials --format …` prints them, so that
//! `credential_process = strap creds export --format process` works in a profile.

use chrono::{DateTime, Timelike, Utc};

use super::Credentials;

/// The output formats of `aws configure export-credentials`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The `credential_process` JSON (Version 1).
    Process,
    /// `export AWS_ACCESS_KEY_ID=…` lines for POSIX shells.
    Env,
    /// `AWS_ACCESS_KEY_ID=…` lines without `export`.
    EnvNoExport,
    /// `$Env:AWS_ACCESS_KEY_ID="…"` lines for PowerShell.
    Powershell,
    /// `set AWS_ACCESS_KEY_ID=…` lines for cmd.exe.
    WindowsCmd,
    /// `set -gx AWS_ACCESS_KEY_ID "…"` lines for fish.
    Fish,
}

/// Python's `datetime.isoformat()` for a UTC time: `2030-01-01T00:00:00+00:00`, with
/// microseconds only when they are not zero.
pub fn isoformat(t: &DateTime<Utc>) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// Escape a string as Python's `json.dumps` does (ASCII only).
fn json_str(s: &str) -> String {
    crate::pyjson::string(s)
}

/// Render credentials in a format. The output holds the secret: the caller asked for it.
pub fn render(creds: &Credentials, format: Format) -> String {
    // (environment name, process-JSON name, value)
    let mut vars: Vec<(&str, &str, String)> = vec![
        (
            "AWS_ACCESS_KEY_ID",
            "AccessKeyId",
            creds.access_key_id.clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            "SecretAccessKey",
            creds.secret_access_key.expose().clone(),
        ),
    ];
    if let Some(t) = &creds.session_token {
        vars.push(("AWS_SESSION_TOKEN", "SessionToken", t.expose().clone()));
    }
    if let Some(e) = &creds.expiration {
        vars.push(("AWS_CREDENTIAL_EXPIRATION", "Expiration", isoformat(e)));
    }
    let mut out = String::new();
    match format {
        Format::Process => {
            out.push_str("{\n  \"Version\": 1");
            for (_, name, v) in &vars {
                out.push_str(&format!(",\n  \"{name}\": {}", json_str(v)));
            }
            out.push_str("\n}\n");
        }
        Format::Env => vars
            .iter()
            .for_each(|(k, _, v)| out.push_str(&format!("export {k}={v}\n"))),
        Format::EnvNoExport => vars
            .iter()
            .for_each(|(k, _, v)| out.push_str(&format!("{k}={v}\n"))),
        Format::Powershell => vars
            .iter()
            .for_each(|(k, _, v)| out.push_str(&format!("$Env:{k}=\"{v}\"\n"))),
        Format::WindowsCmd => vars
            .iter()
            .for_each(|(k, _, v)| out.push_str(&format!("set {k}={v}\n"))),
        Format::Fish => vars
            .iter()
            .for_each(|(k, _, v)| out.push_str(&format!("set -gx {k} \"{v}\"\n"))),
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::secret::Secret;

    fn creds(token: bool, exp: bool) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("SECRET/+x".into()),
            session_token: token.then(|| Secret::new("TOKEN".into())),
            expiration: exp.then(|| Utc.with_ymd_and_hms(2026, 8, 22, 10, 0, 0).unwrap()),
            account_id: None,
        }
    }

    #[test]
    fn process_format_matches_python_json_dumps() {
        assert_eq!(
            render(&creds(true, true), Format::Process),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIDEXAMPLE\",\n  \"SecretAccessKey\": \"SECRET/+x\",\n  \"SessionToken\": \"TOKEN\",\n  \"Expiration\": \"2026-08-22T10:00:00+00:00\"\n}\n"
        );
        let mut no_token = creds(false, true);
        no_token.expiration = creds(true, true).expiration;
        assert!(render(&no_token, Format::Process)
            .contains("\"SecretAccessKey\": \"SECRET/+x\",\n  \"Expiration\""));
        assert_eq!(
            render(&creds(false, false), Format::Process),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIDEXAMPLE\",\n  \"SecretAccessKey\": \"SECRET/+x\"\n}\n"
        );
    }

    #[test]
    fn shell_formats() {
        let c = creds(true, false);
        assert_eq!(
            render(&c, Format::Env),
            "export AWS_ACCESS_KEY_ID=AKIDEXAMPLE\nexport AWS_SECRET_ACCESS_KEY=SECRET/+x\nexport AWS_SESSION_TOKEN=TOKEN\n"
        );
        assert!(render(&c, Format::EnvNoExport).starts_with("AWS_ACCESS_KEY_ID=AKIDEXAMPLE\n"));
        assert!(
            render(&c, Format::Powershell).starts_with("$Env:AWS_ACCESS_KEY_ID=\"AKIDEXAMPLE\"\n")
        );
        assert!(render(&c, Format::WindowsCmd).starts_with("set AWS_ACCESS_KEY_ID=AKIDEXAMPLE\n"));
        assert!(render(&c, Format::Fish).starts_with("set -gx AWS_ACCESS_KEY_ID \"AKIDEXAMPLE\"\n"));
    }

    #[test]
    fn isoformat_keeps_microseconds_only_when_set() {
        let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(isoformat(&t), "2030-01-01T00:00:00+00:00");
        let t = t + chrono::Duration::microseconds(5);
        assert_eq!(isoformat(&t), "2030-01-01T00:00:00.000005+00:00");
    }
}
