//! `strap creds explain|export` end to end, and conformance with the real peers: botocore
//! (`Session().get_credentials().method`), the AWS CLI v2 (`aws configure
//! export-credentials`, `aws configure list`) and the AWS SDK for JavaScript v3
//! (`fromNodeProviderChain`, pinned in `tests/js/`) on the same environments. Peers that
//! are not installed are skipped with a message.

use std::path::Path;
use std::process::{Command, Output};

use strap_e2e::{command, stderr, stdout};

/// The AWS CLI v2 (an `aws` earlier on PATH may be v1).
const AWS_CLI: &str = "/usr/bin/aws";

/// One environment: a temporary HOME with `~/.aws/{config,credentials}` and variables.
struct Env {
    home: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(config: Option<&str>, credentials: Option<&str>, vars: &[(&str, &str)]) -> Env {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        if let Some(c) = config {
            std::fs::write(home.path().join(".aws/config"), c).unwrap();
        }
        if let Some(c) = credentials {
            std::fs::write(home.path().join(".aws/credentials"), c).unwrap();
        }
        let mut all = vec![
            ("HOME".to_string(), home.path().display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            ("AWS_DEFAULT_REGION".to_string(), "us-east-1".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ];
        for (k, v) in vars {
            all.push((k.to_string(), v.to_string()));
        }
        Env { home, vars: all }
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.env_clear();
        // The Python clients' temporary folders go with the test's home.
        cmd.env("TMPDIR", self.home.path());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
    }

    fn strap(&self, args: &[&str]) -> Output {
        let mut cmd = command("strap");
        self.apply(&mut cmd);
        cmd.args(args).output().unwrap()
    }

    fn home(&self) -> &Path {
        self.home.path()
    }
}

const KEYS_FILE: &str =
    "[default]\naws_access_key_id = AKIDCREDSFILE\naws_secret_access_key = credssecret\n";

#[test]
fn explain_names_the_winner_the_shadowed_file_and_its_line() {
    let env = Env::new(
        None,
        Some(KEYS_FILE),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ],
    );
    let out = env.strap(&["creds", "explain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("selected: env  access_key ****************MPLE"),
        "{text}"
    );
    assert!(text.contains(".aws/credentials:2"), "{text}");
    assert!(
        !text.contains("AKIAIOSFODNN7EXAMPLE") && !text.contains("wJalrXUtnFEMI"),
        "{text}"
    );

    let out = env.strap(&["creds", "explain", "--json", "--profile", "default"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["selected"]["method"], "shared-credentials-file");
    assert_eq!(j["selected"]["access_key_id"], "****************FILE");
    assert_eq!(j["providers"][0]["provider"], "env");
    assert_eq!(j["providers"][0]["status"], "skipped");
    // aws-sdk-rust never disables env keys: the two SDKs disagree here.
    assert_eq!(j["sdks"]["rust"], "env");
}

#[test]
fn export_prints_the_process_format_and_fails_like_the_cli() {
    let env = Env::new(None, Some(KEYS_FILE), &[]);
    let out = env.strap(&["creds", "export", "--format", "process"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIDCREDSFILE\",\n  \"SecretAccessKey\": \"credssecret\"\n}\n"
    );
    let out = env.strap(&["creds", "export", "--format", "env", "--profile", "nope"]);
    assert_eq!(out.status.code(), Some(253));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("Unable to retrieve credentials") && err.contains("(nope)"),
        "{err}"
    );
}

#[test]
fn strap_export_works_as_a_credential_process_and_loops_are_stopped() {
    let strap = strap_e2e::bin("strap");
    let config = format!(
        "[profile src]\naws_access_key_id = AKIDSOURCE\naws_secret_access_key = s\n\
         [profile viaproc]\ncredential_process = {0} creds export --profile src --format process\n\
         [profile selfloop]\ncredential_process = {0} creds export --profile selfloop --format process\n",
        strap.display()
    );
    let env = Env::new(Some(&config), None, &[]);
    let out = env.strap(&["creds", "explain", "--json", "--profile", "viaproc"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["selected"]["method"], "custom-process", "{j}");
    assert_eq!(j["selected"]["access_key_id"], "****************URCE");

    let out = env.strap(&["creds", "export", "--profile", "selfloop"]);
    assert_eq!(out.status.code(), Some(253));
    let err = stderr(&out);
    assert!(
        err.contains("infinite loop, profile cycle: selfloop -> selfloop"),
        "{err}"
    );
}

#[test]
fn garbage_from_a_credential_process_names_the_command_and_line() {
    let env = Env::new(
        Some("[default]\ncredential_process = echo not-json\n"),
        None,
        &[],
    );
    let out = env.strap(&["creds", "export"]);
    assert_eq!(out.status.code(), Some(253));
    let err = stderr(&out);
    assert!(
        err.contains("echo not-json") && err.contains(".aws/config:2"),
        "{err}"
    );
}

#[test]
fn disallowed_container_host_stops_the_chain() {
    let env = Env::new(
        None,
        None,
        &[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://10.1.2.3/creds",
        )],
    );
    let out = env.strap(&["creds", "explain", "--json"]);
    assert_eq!(out.status.code(), Some(253));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let container = j["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "container-role")
        .unwrap();
    assert_eq!(container["status"], "error");
    assert!(container["detail"]
        .as_str()
        .unwrap()
        .contains("Unsupported host '10.1.2.3'"));
}

#[test]
fn secrets_stay_out_of_logs_at_trace_level() {
    let env = Env::new(
        None,
        None,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDLOGTEST00001234"),
            ("AWS_SECRET_ACCESS_KEY", "SECRETLOGVALUE"),
            ("AWS_SESSION_TOKEN", "TOKENLOGVALUE"),
        ],
    );
    let out = env.strap(&["-vvv", "creds", "explain"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("env"),
        "trace logs expected on stderr"
    );
    for s in ["SECRETLOGVALUE", "TOKENLOGVALUE", "AKIDLOGTEST0000"] {
        assert!(!all.contains(s), "{s} leaked: {all}");
    }
}

#[test]
fn all_sdks_shows_one_row_per_sdk_and_the_disagreement_names_js() {
    let env = Env::new(
        None,
        Some("[dev]\naws_access_key_id = AKIDDEVPROFILE\naws_secret_access_key = devsecret\n"),
        &[
            ("AWS_PROFILE", "dev"),
            ("AWS_ACCESS_KEY_ID", "AKIDFROMENVVARS"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ],
    );
    let out = env.strap(&["creds", "explain", "--all-sdks"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let sdks: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    assert_eq!(sdks, ["cli", "botocore", "rust", "go", "js"], "{text}");
    for row in &rows[..4] {
        assert!(
            row.contains("env") && row.contains("****************VARS"),
            "{row}"
        );
    }
    assert!(
        rows[4].contains("shared-credentials-file") && rows[4].contains("****************FILE"),
        "{}",
        rows[4]
    );
    assert!(
        !text.contains("AKIDFROMENVVARS") && !text.contains("secret"),
        "{text}"
    );
    let j: serde_json::Value = serde_json::from_slice(
        &env.strap(&["creds", "explain", "--all-sdks", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(j["sdks"][4]["sdk"], "js");
    assert_eq!(
        j["sdks"][4]["selected"]["method"],
        "shared-credentials-file"
    );
    // The plain explanation says the JS SDK picks differently here.
    let text = stdout(&env.strap(&["creds", "explain"]));
    let line = text
        .lines()
        .find(|l| l.starts_with("SDKs disagree here"))
        .unwrap_or_default();
    assert!(line.contains("js → shared-credentials-file"), "{text}");
    // A missing profile: an error for the CLI, "no credentials" for the JS SDK.
    let env = Env::new(None, None, &[("AWS_PROFILE", "nope")]);
    let out = env.strap(&["creds", "explain", "--all-sdks"]);
    assert_eq!(out.status.code(), Some(253));
    let text = stdout(&out);
    let js = text
        .lines()
        .find(|l| l.starts_with("js "))
        .unwrap_or_default();
    assert!(js.contains("no credentials found"), "{text}");
    let cli = text
        .lines()
        .find(|l| l.starts_with("cli "))
        .unwrap_or_default();
    assert!(cli.contains("could not be found"), "{text}");
}

// ---- conformance with botocore and the AWS CLI v2 ----

fn have_botocore() -> bool {
    Command::new("python3")
        .args(["-c", "import botocore"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn have_cli() -> bool {
    Path::new(AWS_CLI).exists()
}

/// botocore's `(method, access_key)` or `None` when it raises.
fn botocore_creds(env: &Env) -> Option<(String, String)> {
    let mut cmd = Command::new("python3");
    env.apply(&mut cmd);
    for k in ["PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    let out = cmd
        .args([
            "-c",
            "import botocore.session as s\nc = s.Session().get_credentials()\nprint(c.method if c else 'none', c.access_key if c else '')",
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = stdout(&out);
    let (m, k) = text.trim_end().split_once(' ')?;
    Some((m.to_string(), k.to_string()))
}

fn cli(env: &Env, args: &[&str]) -> Output {
    let mut cmd = Command::new(AWS_CLI);
    env.apply(&mut cmd);
    cmd.args(args).output().unwrap()
}

fn conformance_envs() -> Vec<(&'static str, Env)> {
    let proc_cmd = r#"echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "procsecret", "SessionToken": "proctoken", "Expiration": "2030-01-01T00:00:00Z"}'"#;
    vec![
        ("env keys", Env::new(None, None, &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "envsecret")])),
        (
            "legacy token first",
            Env::new(
                None,
                None,
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                    ("AWS_SECRET_ACCESS_KEY", "envsecret"),
                    ("AWS_SESSION_TOKEN", "b"),
                    ("AWS_SECURITY_TOKEN", "a"),
                ],
            ),
        ),
        (
            "env expiration",
            Env::new(
                None,
                None,
                &[
                    ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                    ("AWS_SECRET_ACCESS_KEY", "envsecret"),
                    ("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z"),
                ],
            ),
        ),
        ("credentials file", Env::new(None, Some(KEYS_FILE), &[])),
        (
            "config file beats nothing",
            Env::new(Some("[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"), None, &[]),
        ),
        (
            "inline comment kept",
            Env::new(Some("[default]\naws_access_key_id = AKIA1 # note\naws_secret_access_key = s\n"), None, &[]),
        ),
        (
            "DEFAULT section inherited",
            Env::new(
                Some("[DEFAULT]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s\n[profile dev]\nregion = us-east-1\n"),
                None,
                &[("AWS_PROFILE", "dev")],
            ),
        ),
        (
            "later default section wins",
            Env::new(
                Some("[profile default]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n"),
                None,
                &[],
            ),
        ),
        (
            "credential_process",
            Env::new(Some(&format!("[default]\ncredential_process = {proc_cmd}\n")), None, &[]),
        ),
        (
            "credentials file beats process",
            Env::new(Some(&format!("[default]\ncredential_process = {proc_cmd}\n")), Some(KEYS_FILE), &[]),
        ),
        (
            "upper-case keys",
            Env::new(None, Some("[default]\nAWS_ACCESS_KEY_ID = AKIDUPPER\nAWS_SECRET_ACCESS_KEY = s\n"), &[]),
        ),
        (
            "AWS_PROFILE names a config profile",
            Env::new(
                Some("[profile dev]\naws_access_key_id = AKIDDEVCFG\naws_secret_access_key = s\n"),
                Some(KEYS_FILE),
                &[("AWS_PROFILE", "dev")],
            ),
        ),
        ("missing profile", Env::new(None, Some(KEYS_FILE), &[("AWS_PROFILE", "nope")])),
        ("half a key pair", Env::new(None, Some(KEYS_FILE), &[("AWS_ACCESS_KEY_ID", "AKIDHALF")])),
        (
            "two profile variables",
            Env::new(
                None,
                Some("[a]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
                &[("AWS_DEFAULT_PROFILE", "a"), ("AWS_PROFILE", "b")],
            ),
        ),
        ("nothing", Env::new(None, None, &[])),
        // Error paths: each SDK must stop (or move on) the same way.
        (
            "role_arn alone",
            Env::new(Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\n"), None, &[("AWS_PROFILE", "p")]),
        ),
        (
            "source_profile and credential_source",
            Env::new(
                Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = p\ncredential_source = Environment\n"),
                None,
                &[("AWS_PROFILE", "p")],
            ),
        ),
        (
            "lower-case credential_source",
            Env::new(
                Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = environment\n"),
                None,
                &[("AWS_PROFILE", "p")],
            ),
        ),
        (
            "complete SSO profile",
            Env::new(
                Some("[profile p]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = R\n"),
                Some("[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n"),
                &[("AWS_PROFILE", "p")],
            ),
        ),
        ("web identity without a role", Env::new(None, None, &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token")])),
        ("empty AWS_PROFILE", Env::new(None, Some(KEYS_FILE), &[("AWS_PROFILE", "")])),
        (
            "keys split across the files",
            Env::new(Some("[default]\naws_secret_access_key = s\n"), Some("[default]\naws_access_key_id = AKIDSPLIT\n"), &[]),
        ),
        (
            "duplicate default sections",
            Env::new(Some("[default]\naws_access_key_id = AKIDDUP\n[default]\naws_secret_access_key = s\n"), None, &[]),
        ),
        (
            "credentials-file section with the profile prefix",
            Env::new(None, Some("[profile dev]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n"), &[("AWS_PROFILE", "dev")]),
        ),
        // Where the AWS SDK for JavaScript v3 parts ways with the CLI (issue 14).
        (
            "AWS_PROFILE beside both env keys",
            Env::new(
                None,
                Some("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n"),
                &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "envsecret"), ("AWS_PROFILE", "dev")],
            ),
        ),
        (
            "AWS_DEFAULT_PROFILE alone",
            Env::new(
                None,
                Some("[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s\n[a]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n"),
                &[("AWS_DEFAULT_PROFILE", "a")],
            ),
        ),
        (
            "only the secret in env",
            Env::new(None, Some(KEYS_FILE), &[("AWS_SECRET_ACCESS_KEY", "envsecret")]),
        ),
        (
            "config keys beside credential_process",
            Env::new(
                Some(&format!("[default]\ncredential_process = {proc_cmd}\naws_access_key_id = AKIDCFGPROC\naws_secret_access_key = s\n")),
                None,
                &[],
            ),
        ),
        (
            "failing credential_process",
            Env::new(Some("[default]\ncredential_process = false\n"), None, &[]),
        ),
        (
            "credential_process with a pipe",
            Env::new(Some(&format!("[default]\ncredential_process = {proc_cmd} | cat\n")), None, &[]),
        ),
        (
            "web identity in env and a profile",
            Env::new(
                None,
                Some(KEYS_FILE),
                &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/R")],
            ),
        ),
        (
            "lines before the first section",
            Env::new(None, Some("aws_access_key_id = AKIDPRE\n[default]\naws_secret_access_key = s\n"), &[]),
        ),
        (
            "an indented key",
            Env::new(None, Some("[default]\n  aws_access_key_id = AKIDINDENT\naws_secret_access_key = s\n"), &[]),
        ),
        (
            "duplicate key",
            Env::new(None, Some("[default]\naws_access_key_id = AKIDFIRST\naws_access_key_id = AKIDLAST\naws_secret_access_key = s\n"), &[]),
        ),
        (
            "comment after a tab",
            Env::new(None, Some("[default]\naws_access_key_id = AKIDTAB\t;c\naws_secret_access_key = s\n"), &[]),
        ),
        (
            "profile without its prefix in the config file",
            Env::new(Some("[dev]\naws_access_key_id = AKIDMISNAMED\naws_secret_access_key = s\n"), None, &[("AWS_PROFILE", "dev")]),
        ),
        (
            "a DEFAULT profile named",
            Env::new(None, Some("[DEFAULT]\naws_access_key_id = AKIDUPPERDEF\naws_secret_access_key = s\n"), &[("AWS_PROFILE", "DEFAULT")]),
        ),
        (
            "unknown credential_source",
            Env::new(
                Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = Nowhere\n"),
                Some("[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n"),
                &[("AWS_PROFILE", "p")],
            ),
        ),
        (
            "metadata disabled by any value",
            Env::new(None, None, &[("AWS_EC2_METADATA_DISABLED", "1"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")]),
        ),
    ]
}

#[test]
fn same_method_and_key_as_botocore() {
    if !have_botocore() {
        eprintln!("skipped: botocore is not installed (pip install botocore)");
        return;
    }
    for (name, env) in conformance_envs() {
        let want = botocore_creds(&env);
        let out = env.strap(&["creds", "explain", "--json", "--sdk", "botocore"]);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match want {
            None => assert!(
                j["selected"].is_null() && !j["error"].is_null(),
                "{name}: botocore raised, strap gave {j}"
            ),
            Some((m, _)) if m == "none" => {
                assert!(
                    j["selected"].is_null(),
                    "{name}: botocore found none, strap {j}"
                )
            }
            Some((m, key)) => {
                assert_eq!(j["selected"]["method"], m.as_str(), "{name}");
                let export = env.strap(&[
                    "creds",
                    "export",
                    "--sdk",
                    "botocore",
                    "--format",
                    "env-no-export",
                ]);
                let first = stdout(&export)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                assert_eq!(first, format!("AWS_ACCESS_KEY_ID={key}"), "{name}");
            }
        }
        let _ = env.home();
    }
}

// ---- conformance with the AWS SDK for JavaScript v3 ----

/// The pinned JS SDK and the script that resolves with it (`npm ci --prefix tests/js`).
fn js_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// `node`, if it is on the PATH.
fn node() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("node"))
            .find(|p| p.is_file())
    })
}

/// Where `--sdk js` is known to differ from the real SDK on a scenario, and why. Any
/// other difference fails the test.
const JS_KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// What one side did: the access key id, or no credentials.
fn js_verdict(ok: bool, key: &str) -> String {
    if ok {
        key.to_string()
    } else {
        "no credentials".to_string()
    }
}

/// `node` and the resolve script, or why the JS comparison is skipped.
fn js_oracle() -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let node = node().ok_or("node is not on the PATH (install Node.js 18 or later)")?;
    if !js_dir()
        .join("node_modules/@aws-sdk/credential-providers")
        .is_dir()
    {
        return Err("the pinned JS SDK is not installed (run `npm ci --prefix tests/js`)".into());
    }
    Ok((node, js_dir().join("resolve.js")))
}

/// Run the real JS SDK and `strap creds export --sdk js` on one environment: a table
/// row, and the difference when it is neither an agreement nor a known difference.
fn compare_js(node: &Path, script: &Path, name: &str, env: &Env) -> (String, Option<String>) {
    let mut cmd = Command::new(node);
    env.apply(&mut cmd);
    let out = cmd.arg(script).output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: node said {} ({e})", stderr(&out)));
    let theirs = js_verdict(
        j["ok"].as_bool().unwrap_or(false),
        j["access_key_id"].as_str().unwrap_or_default(),
    );
    let ours_out = env.strap(&["creds", "export", "--sdk", "js", "--format", "process"]);
    let ours = match serde_json::from_slice::<serde_json::Value>(&ours_out.stdout) {
        Ok(v) if ours_out.status.success() => {
            js_verdict(true, v["AccessKeyId"].as_str().unwrap_or_default())
        }
        _ => js_verdict(false, ""),
    };
    let known = JS_KNOWN_DIFFERENCES.iter().find(|(n, _)| *n == name);
    let (mark, diff) = match (theirs == ours, known) {
        (true, _) => ("agree".to_string(), None),
        (false, Some((_, why))) => (format!("known difference: {why}"), None),
        (false, None) => (
            "DIFFERS".to_string(),
            Some(format!(
                "{name}: the JS SDK → {theirs} ({}), strap --sdk js → {ours} ({})",
                j["error"].as_str().unwrap_or(""),
                stderr(&ours_out).trim()
            )),
        ),
    };
    (
        format!("{name:<50} js sdk: {theirs:<22} strap: {ours:<22} {mark}"),
        diff,
    )
}

/// Print the table and the count, and fail on any unexpected difference.
fn report_js(table: &str, rows: Vec<(String, Option<String>)>) {
    let agree = rows.iter().filter(|(r, _)| r.ends_with("agree")).count();
    for (row, _) in &rows {
        eprintln!("{row}");
    }
    eprintln!("js ({table}): {agree} of {} scenarios agree", rows.len());
    let unexpected: Vec<String> = rows.into_iter().filter_map(|(_, d)| d).collect();
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

#[test]
fn same_key_as_the_js_sdk() {
    let (node, script) = match js_oracle() {
        Ok(o) => o,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let rows = conformance_envs()
        .iter()
        .map(|(name, env)| compare_js(&node, &script, name, env))
        .collect();
    report_js("files and environment", rows);
}

#[tokio::test]
async fn same_key_as_the_js_sdk_over_the_network() {
    let (node, script) = match js_oracle() {
        Ok(o) => o,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let mock = mock_with_role().await;
    let url = mock.url();
    let rows = tokio::task::spawn_blocking(move || {
        let token_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token_file.path(), "mock-pod-identity-token").unwrap();
        let token_nl = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token_nl.path(), "mock-pod-identity-token\n").unwrap();
        let token_path = token_file.path().display().to_string();
        let token_nl_path = token_nl.path().display().to_string();
        let eks = format!("{url}/v1/credentials");
        let prefixed = format!("{url}/prefix/");
        let scenarios: Vec<(&str, Env)> = vec![
            (
                "missing profile reaches the instance role",
                Env::new(
                    None,
                    Some(KEYS_FILE),
                    &[
                        ("AWS_PROFILE", "nope"),
                        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
                    ],
                ),
            ),
            (
                "endpoint path prefix dropped",
                Env::new(
                    None,
                    None,
                    &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &prefixed)],
                ),
            ),
            (
                "AWS_EC2_METADATA_DISABLED=false",
                Env::new(
                    None,
                    None,
                    &[
                        ("AWS_EC2_METADATA_DISABLED", "false"),
                        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
                    ],
                ),
            ),
            (
                "container token file",
                Env::new(
                    None,
                    None,
                    &[
                        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &eks),
                        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_path),
                    ],
                ),
            ),
            (
                "container token file ending in a newline",
                Env::new(
                    None,
                    None,
                    &[
                        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &eks),
                        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_nl_path),
                    ],
                ),
            ),
            (
                "container 4xx",
                Env::new(None, None, &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &eks)]),
            ),
            (
                "container variables hide the instance role",
                Env::new(
                    None,
                    None,
                    &[
                        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &eks),
                        ("AWS_EC2_METADATA_DISABLED", "false"),
                        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
                    ],
                ),
            ),
        ];
        let mut rows = Vec::new();
        for (name, mut env) in scenarios {
            if env
                .vars
                .iter()
                .filter(|(k, _)| k == "AWS_EC2_METADATA_DISABLED")
                .count()
                == 2
            {
                // The scenario's own value replaces the default `true`.
                if let Some(i) = env
                    .vars
                    .iter()
                    .position(|(k, _)| k == "AWS_EC2_METADATA_DISABLED")
                {
                    env.vars.remove(i);
                }
            } else if env
                .vars
                .iter()
                .any(|(k, _)| k == "AWS_EC2_METADATA_SERVICE_ENDPOINT")
            {
                env.vars.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
            }
            rows.push(compare_js(&node, &script, name, &env));
        }
        rows
    })
    .await
    .unwrap();
    mock.shutdown().await;
    report_js("network", rows);
}

#[test]
fn export_is_byte_for_byte_the_aws_cli_v2() {
    if !have_cli() {
        eprintln!("skipped: the AWS CLI v2 is not at {AWS_CLI} (apt-get install awscli)");
        return;
    }
    for (i, (name, env)) in conformance_envs().into_iter().enumerate() {
        // Every environment in the two main formats; the others on a few (the CLI is slow).
        let formats: &[&str] = if i < 3 {
            &[
                "process",
                "env",
                "env-no-export",
                "powershell",
                "windows-cmd",
            ]
        } else {
            &["process", "env"]
        };
        for format in formats.iter().copied() {
            let theirs = cli(
                &env,
                &["configure", "export-credentials", "--format", format],
            );
            let ours = env.strap(&["creds", "export", "--format", format]);
            assert_eq!(
                theirs.status.success(),
                ours.status.success(),
                "{name} {format}: aws {} / strap {}",
                stderr(&theirs),
                stderr(&ours)
            );
            assert_eq!(stdout(&ours), stdout(&theirs), "{name} {format}");
        }
    }
}

#[test]
fn configure_list_type_is_the_explained_method() {
    if !have_cli() {
        eprintln!("skipped: the AWS CLI v2 is not at {AWS_CLI} (apt-get install awscli)");
        return;
    }
    for (name, env) in conformance_envs() {
        let list = cli(&env, &["configure", "list"]);
        let ours = env.strap(&["creds", "explain", "--json"]);
        let j: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
        if !list.status.success() {
            assert!(
                j["selected"].is_null(),
                "{name}: aws configure list failed, strap selected {j}"
            );
            continue;
        }
        let text = stdout(&list);
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("access_key"))
            .unwrap_or_default();
        let cols: Vec<&str> = row.split_whitespace().collect();
        if j["selected"].is_null() {
            assert!(row.contains("<not set>"), "{name}: {row}");
        } else {
            // A key with whitespace in it (a comment the CLI keeps) spans columns.
            let key = j["selected"]["access_key_id"].as_str().unwrap_or("?");
            let method = j["selected"]["method"].as_str().unwrap_or("?");
            let words = key.split_whitespace().count();
            assert_eq!(
                cols[1..=words].join(" "),
                key.split_whitespace().collect::<Vec<_>>().join(" "),
                "{name}: {row}"
            );
            assert_eq!(cols.get(1 + words).copied(), Some(method), "{name}: {row}");
        }
    }
}

// ---- network providers against the real mock and strap's own server ----

/// The mock in this process on 127.0.0.1:0, its instance carrying `strap-creds-role`.
async fn mock_with_role() -> imds_mock::RunningMock {
    let config = imds_mock::Config {
        listen: "127.0.0.1:0".into(),
        role: Some("strap-creds-role".into()),
        ..imds_mock::Config::default()
    };
    imds_mock::spawn(config).await.unwrap()
}

/// `aws configure export-credentials` and `strap creds export` with exactly `vars`,
/// off the async runtime: (theirs, ours).
async fn export_both(vars: Vec<(String, String)>) -> (Output, Output) {
    tokio::task::spawn_blocking(move || {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = Command::new(AWS_CLI);
        a.env_clear()
            .env("TMPDIR", tmp.path())
            .envs(vars.clone())
            .args(["configure", "export-credentials"]);
        let mut s = command("strap");
        s.env_clear().envs(vars).args(["creds", "export"]);
        (a.output().unwrap(), s.output().unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn instance_profile_from_imds_mock_matches_the_aws_cli() {
    let mock = mock_with_role().await;
    // botocore appends paths to the endpoint as given: it must end with '/'.
    let endpoint = format!("{}/", mock.url());
    let mut env = Env::new(
        None,
        None,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    env.vars.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    let ours = tokio::task::spawn_blocking({
        let vars = env.vars.clone();
        move || {
            let mut cmd = command("strap");
            cmd.env_clear()
                .envs(vars)
                .args(["creds", "explain", "--json"]);
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    assert_eq!(j["selected"]["method"], "iam-role", "{j}");
    assert!(!j["selected"]["expiration"].is_null());
    if have_cli() {
        let (theirs, ours) = export_both(env.vars.clone()).await;
        assert!(theirs.status.success(), "{}", stderr(&theirs));
        assert_eq!(stdout(&ours), stdout(&theirs));
        // Without the trailing '/', both refuse the endpoint.
        let mut vars = env.vars.clone();
        vars.push(("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), mock.url()));
        let (theirs, ours) = export_both(vars).await;
        assert!(!theirs.status.success() && !ours.status.success());
        assert!(
            stderr(&ours).contains("Invalid endpoint"),
            "{}",
            stderr(&ours)
        );
    } else {
        eprintln!("skipped the comparison: the AWS CLI v2 is not at {AWS_CLI}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn a_slow_instance_profile_is_read_with_the_configured_timeout_as_botocore_does() {
    // The role and its credentials answer after 1.3 s: over botocore's default second,
    // within AWS_METADATA_SERVICE_TIMEOUT=3.
    let config = imds_mock::config::Config {
        listen: "127.0.0.1:0".into(),
        role: Some("strap-slow-role".into()),
        faults: vec![imds_mock::config::Fault {
            path: "/latest/meta-data/iam/".into(),
            latency_ms: 1300,
            error_rate: 0.0,
            error_status: 503,
            drop_rate: 0.0,
            expired_credentials: false,
        }],
        ..imds_mock::config::Config::default()
    };
    let mock = imds_mock::spawn(config).await.unwrap();
    let endpoint = format!("{}/", mock.url());
    let mut slow = Env::new(
        None,
        None,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    );
    slow.vars.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    let mut patient = Env::new(
        None,
        None,
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("AWS_METADATA_SERVICE_TIMEOUT", "3"),
        ],
    );
    patient
        .vars
        .retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    let results = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (name, env) in [("default timeout", &slow), ("timeout 3", &patient)] {
            let ours = env.strap(&[
                "creds", "export", "--sdk", "botocore", "--format", "process",
            ]);
            let theirs = have_botocore().then(|| botocore_creds(env));
            out.push((name, ours.status.success(), theirs));
        }
        out
    })
    .await
    .unwrap();
    mock.shutdown().await;
    let [(_, quick_ok, quick_boto), (_, patient_ok, patient_boto)] = &results[..] else {
        panic!("{results:?}");
    };
    assert!(
        !quick_ok,
        "strap read a 1.3 s service within the default second"
    );
    assert!(patient_ok, "strap did not wait the configured 3 s");
    match (quick_boto, patient_boto) {
        (Some(q), Some(p)) => {
            assert!(!matches!(q, Some((m, _)) if m == "iam-role"), "{q:?}");
            assert!(matches!(p, Some((m, _)) if m == "iam-role"), "{p:?}");
        }
        _ => eprintln!("skipped the botocore comparison: botocore is not installed"),
    }
}

/// Kills the child when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn creds_serve_hands_the_chain_to_container_clients() {
    use std::io::{BufRead, BufReader};
    let env = Env::new(
        None,
        None,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDSERVED"),
            ("AWS_SECRET_ACCESS_KEY", "servedsecret"),
        ],
    );
    let mut cmd = command("strap");
    env.apply(&mut cmd);
    cmd.args(["creds", "serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = Killed(cmd.spawn().unwrap());
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut exports = Vec::new();
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.trim_start_matches("export ").split_once('=').unwrap();
        exports.push((k.to_string(), v.trim_matches('\'').to_string()));
    }
    assert_eq!(exports[0].0, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    assert_eq!(exports[1].0, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let client = Env::new(None, None, &[]);
    let mut cmd = command("strap");
    client.apply(&mut cmd);
    let out = cmd
        .envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["creds", "export", "--format", "env-no-export"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("AWS_ACCESS_KEY_ID=AKIDSERVED\nAWS_SECRET_ACCESS_KEY=servedsecret\n"),
        "{text}"
    );
    // A wrong token is refused, and the chain stops there (a container provider error).
    let mut cmd = command("strap");
    client.apply(&mut cmd);
    let out = cmd
        .env(&exports[0].0, &exports[0].1)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
        .args(["creds", "export"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(253));
    assert!(stderr(&out).contains("container"), "{}", stderr(&out));
}

#[tokio::test]
async fn assume_role_and_whoami_against_the_mock_sts() {
    let mock = mock_with_role().await;
    let account = mock.state().config().account_id;
    let region = mock.state().config().region;
    let profile = format!(
        "[profile deploy]\nrole_arn = arn:aws:iam::{account}:role/deployer\n\
         credential_source = Ec2InstanceMetadata\nrole_session_name = strap-e2e\n"
    );
    let endpoint = format!("{}/", mock.url());
    let mut env = Env::new(
        Some(&profile),
        None,
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("AWS_ENDPOINT_URL_STS", &mock.url()),
            ("AWS_REGION", &region),
        ],
    );
    env.vars.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    let vars = env.vars.clone();
    let (explain, whoami, plain) = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            let mut c = command("strap");
            c.env_clear().envs(vars.clone()).args(args);
            c.output().unwrap()
        };
        (
            run(&["creds", "explain", "--json", "--profile", "deploy"]),
            run(&["creds", "whoami", "--profile", "deploy"]),
            run(&["creds", "whoami"]),
        )
    })
    .await
    .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(j["selected"]["method"], "assume-role", "{j}");
    let detail = j["providers"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("role/deployer") && detail.contains("Ec2InstanceMetadata"),
        "{detail}"
    );
    assert!(whoami.status.success(), "{}", stderr(&whoami));
    let who: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(
        who["Arn"],
        format!("arn:aws:sts::{account}:assumed-role/deployer/strap-e2e")
    );
    assert_eq!(who["Account"], account.as_str());
    // Without the profile the instance role itself answers.
    let who: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(
        who["Arn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/strap-creds-role/"),
        "{who}"
    );
    mock.shutdown().await;
}
