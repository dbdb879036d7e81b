//! strap beside systemd v261's own metadata service: the locked-down IMDS route of
//! `85-imds-early.network` (only sockets with fwmark 0x7FFF0815 reach the service), set
//! up in network namespaces as systemd sets it up.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};

use strap_e2e::{can_use_namespaces, code, sh, stderr, stdout};

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

/// How the stand-in systemd-imdsd answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Imdsd {
    Serve,
    Hang,
    Fail,
}

/// A small systemd-imdsd on `socket` (Varlink: JSON + NUL over a Unix stream socket),
/// in threads of the test; answers the number of calls it got so far.
fn start_imdsd(
    socket: &std::path::Path,
    data: Vec<(&'static str, Vec<u8>)>,
    how: Imdsd,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use base64::Engine as _;
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let data = std::sync::Arc::new(data);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let data = data.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while stream.read(&mut byte).unwrap_or(0) == 1 && byte[0] != 0 {
                    buf.push(byte[0]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let req: serde_json::Value = serde_json::from_slice(&buf).unwrap_or_default();
                let reply = match how {
                    Imdsd::Hang => {
                        // Hold the connection until the client gives up.
                        let _ = stream.read(&mut byte);
                        return;
                    }
                    Imdsd::Fail => serde_json::json!({
                        "error": "io.systemd.InstanceMetadata.NotAvailable", "parameters": {}
                    }),
                    Imdsd::Serve => match req["method"].as_str().unwrap_or_default() {
                        "io.systemd.InstanceMetadata.GetVendorInfo" => serde_json::json!({
                            "parameters": {"vendor": "amazon-ec2",
                                           "dataUrl": "http://169.254.169.254/latest"}
                        }),
                        _ => {
                            let p = &req["parameters"];
                            let key = p["key"].as_str().or(p["wellKnown"].as_str()).unwrap_or("");
                            match data.iter().find(|(k, _)| *k == key) {
                                Some((_, v)) => serde_json::json!({"parameters": {
                                    "data": base64::engine::general_purpose::STANDARD.encode(v)
                                }}),
                                None => serde_json::json!({
                                    "error": "io.systemd.InstanceMetadata.KeyNotFound",
                                    "parameters": {}
                                }),
                            }
                        }
                    },
                };
                let mut out = serde_json::to_vec(&reply).unwrap();
                out.push(0);
                let _ = stream.write_all(&out);
            });
        }
    });
    calls
}

/// Requests the mock answered (`/_mock/requests`' total).
fn mock_requests(url: &str) -> u64 {
    use std::io::{Read as _, Write as _};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /_mock/requests HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["total"].as_u64().unwrap()
}

/// A root with systemd-imdsd's socket in its `/run/systemd`, and a mock the environment
/// points the direct path at.
struct ImdsdMachine {
    dir: tempfile::TempDir,
    mock: strap_e2e::MockProcess,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ImdsdMachine {
    fn new(how: Imdsd) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/systemd/io.systemd.InstanceMetadata");
        let doc = serde_json::json!({
            "instanceId": "i-0fromimdsd0000001", "region": "eu-north-1",
            "availabilityZone": "eu-north-1a", "instanceType": "t3.micro",
            "imageId": "ami-0123", "privateIp": "10.0.0.9"
        })
        .to_string();
        let calls = start_imdsd(
            &socket,
            vec![
                ("/meta-data/instance-id", b"i-0fromimdsd0000001".to_vec()),
                ("/dynamic/instance-identity/document", doc.into_bytes()),
                (
                    "/meta-data/local-hostname",
                    b"ip-10-0-0-9.imdsd.internal".to_vec(),
                ),
                (
                    "userdata",
                    b"#!/bin/sh\necho from-imdsd >> \"$STRAP_ROOT/ran\"\n".to_vec(),
                ),
            ],
            how,
        );
        let user_data = dir.path().join("mock-user-data");
        std::fs::write(
            &user_data,
            "#!/bin/sh\necho from-mock >> \"$STRAP_ROOT/ran\"\n",
        )
        .unwrap();
        let mock = strap_e2e::MockProcess::start(
            [std::ffi::OsStr::new("--user-data"), user_data.as_os_str()],
            Stdio::null(),
        );
        Self { dir, mock, calls }
    }

    fn run(&self, extra: &[&str]) -> (Output, std::time::Duration) {
        let started = std::time::Instant::now();
        let out = strap_e2e::command("strap")
            .args(["run", "--root"])
            .arg(self.dir.path())
            .args(extra)
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &self.mock.url)
            .env("AWS_METADATA_SERVICE_TIMEOUT", "1")
            .env("STRAP_IMDS_FWMARK", "off")
            .env("STRAP_BOOT_ID", "boot-1")
            .output()
            .unwrap();
        (out, started.elapsed())
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(p)).unwrap_or_default()
    }
}

#[test]
fn systemd_imdsd_answers_and_strap_asks_the_service_nothing_of_what_it_gave() {
    let m = ImdsdMachine::new(Imdsd::Serve);
    let (out, _) = m.run(&[]);
    assert!(matches!(code(&out), 0 | 2), "{}", stderr(&out));
    assert_eq!(m.read("ran"), "from-imdsd\n");
    let log = m.read("var/log/strap.log");
    assert!(log.contains("through systemd-imdsd"), "{log}");
    assert!(m.calls.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    // Every path of the boot came from imdsd (those it did not know are a "not found"
    // answer, not a reason to ask the service).
    assert_eq!(mock_requests(&m.mock.url), 0);
}

#[test]
fn imds_url_forces_direct_access_past_systemd_imdsd() {
    let m = ImdsdMachine::new(Imdsd::Serve);
    let url = m.mock.url.clone();
    let (out, _) = m.run(&["--imds", &url]);
    assert!(matches!(code(&out), 0 | 2), "{}", stderr(&out));
    assert_eq!(m.read("ran"), "from-mock\n");
    assert_eq!(m.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(mock_requests(&url) > 0);
}

#[test]
fn a_hanging_or_failing_systemd_imdsd_falls_back_to_the_service_in_bounded_time() {
    for how in [Imdsd::Hang, Imdsd::Fail] {
        let m = ImdsdMachine::new(how);
        let (out, took) = m.run(&[]);
        assert!(matches!(code(&out), 0 | 2), "{}", stderr(&out));
        assert_eq!(m.read("ran"), "from-mock\n");
        assert!(
            stderr(&out).contains("reading the metadata service directly"),
            "{}",
            stderr(&out)
        );
        // One attempt timeout (1 s) at most is spent on imdsd.
        assert!(took < std::time::Duration::from_secs(15), "{took:?}");
        assert!(mock_requests(&m.mock.url) > 0);
    }
}
