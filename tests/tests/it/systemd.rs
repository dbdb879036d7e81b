//! strap beside systemd v261's own metadata service: the locked-down IMDS route of
//! `85-imds-early.network` (only sockets with fwmark 0x7FFF0815 reach the service), set
//! up in network namespaces as systemd sets it up.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};

use strap_e2e::{code, stderr, stdout};

fn can_use_namespaces() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(false);
    uid && Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{}: {}", args.join(" "), stderr(&out));
}

/// Two namespaces joined by a veth pair: `client` (10.231.0.2) with systemd's lock-down
/// for the server's address, `server` (10.231.0.1) running imds-mock. Removed on drop.
struct Lab {
    client: String,
    server: String,
    mock: Option<Child>,
    url: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut mock) = self.mock.take() {
            let _ = mock.kill();
            let _ = mock.wait();
        }
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

const SERVER: &str = "10.231.0.1";
/// systemd's table and mark, `0x7FFF0815`.
const MARK: &str = "0x7fff0815";

impl Lab {
    fn new(tag: &str) -> Self {
        let pid = std::process::id();
        let mut lab = Lab {
            client: format!("strap-{tag}-c{pid}"),
            server: format!("strap-{tag}-s{pid}"),
            mock: None,
            url: String::new(),
        };
        sh(&["ip", "netns", "add", &lab.client]);
        sh(&["ip", "netns", "add", &lab.server]);
        sh(&[
            "ip",
            "-n",
            &lab.client,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lab.server,
        ]);
        for (ns, addr) in [
            (&lab.client, "10.231.0.2/24"),
            (&lab.server, "10.231.0.1/24"),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // What 85-imds-early.network installs, for the server's address: a prohibit
        // route in the main table, a link route in table 0x7FFF0815, and a rule sending
        // marked sockets to that table.
        let c = lab.client.clone();
        sh(&["ip", "-n", &c, "route", "add", "prohibit", SERVER]);
        sh(&[
            "ip", "-n", &c, "route", "add", SERVER, "dev", "eth0", "scope", "link", "table", MARK,
        ]);
        sh(&[
            "ip", "-n", &c, "rule", "add", "fwmark", MARK, "lookup", MARK,
        ]);
        let mut mock = Command::new("ip")
            .args(["netns", "exec", &lab.server])
            .arg(strap_e2e::bin("imds-mock"))
            .args(["--listen", &format!("{SERVER}:0")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        if let Some(out) = mock.stdout.as_mut() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        lab.mock = Some(mock);
        lab.url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from imds-mock: {line:?}"))
            .to_string();
        lab
    }

    /// `strap ARGS` inside the client namespace.
    fn strap(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("ip");
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") || key.starts_with("STRAP_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.args(["netns", "exec", &self.client])
            .arg(strap_e2e::bin("strap"))
            .args(args)
            .env("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")
            .env("AWS_METADATA_SERVICE_TIMEOUT", "2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

#[test]
fn behind_systemds_locked_down_route_only_marked_sockets_are_served() {
    if !can_use_namespaces() {
        eprintln!("skipping: needs root and `ip netns` (network namespaces)");
        return;
    }
    let lab = Lab::new("lock");
    let get = |env: &[(&str, &str)]| {
        lab.strap(
            &["-v", "metadata", "get", "instance-id", "--imds", &lab.url],
            env,
        )
    };
    // Without the mark the route refuses the connection.
    let out = get(&[("STRAP_IMDS_FWMARK", "off")]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("cannot reach IMDS"),
        "{}",
        stderr(&out)
    );
    // Detected from the tables: the sockets carry the mark and are served.
    let out = get(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).trim().starts_with("i-"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("marked: systemd's IMDS lock-down found")
            && err.contains(&format!("prohibit {SERVER}"))
            && err.contains("fwmark 0x7fff0815 lookup 2147420181"),
        "{err}"
    );
    // Forced on, without looking.
    let out = get(&[("STRAP_IMDS_FWMARK", "on")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A boot says in its log how it reached the service, and completes.
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().display().to_string();
    let out = lab.strap(
        &[
            "run",
            "--imds",
            &lab.url,
            "--root",
            &root_arg,
            "--metadata-wait",
            "5",
        ],
        &[],
    );
    // Done, or degraded by the mock's default user data (plain text): not failed.
    assert!(matches!(code(&out), 0 | 2), "{}", stderr(&out));
    let log = std::fs::read_to_string(root.path().join("var/log/strap.log")).unwrap();
    assert!(
        log.contains(&format!("IMDS access ({}): marked:", lab.url)),
        "{log}"
    );
}
