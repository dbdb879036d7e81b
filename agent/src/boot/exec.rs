//! Running one script the way a boot does: executed directly (a `#!` line is needed;
//! PowerShell scripts go through `pwsh`), stdin from `/dev/null`, cwd the root, `HOME`
//! set, in its own process group so a timeout can kill everything it started, and
//! killed (`PR_SET_PDEATHSIG`) when strap itself dies, so that a killed boot does not
//! leave the part running while the next boot starts it again. Its
//! stdout and stderr are read line by line, written with a timestamp to the output log
//! and shown live on stderr, and the last lines are kept for the report. This module
//! never decides what a failure means: it says how the script ended.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many output lines the report keeps per script.
pub const TAIL_LINES: usize = 10;
/// The longest output line kept in the output log and the report: a longer line is cut
/// into pieces of this size, so a script printing without newlines cannot grow strap's
/// memory.
pub const MAX_LINE: usize = 64 << 10;
/// The PowerShell interpreter looked up on PATH for `.ps1` parts.
pub const PWSH: &str = "pwsh";

/// Why a script could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The file does not start with `#!`, so the kernel cannot execute it.
    #[error(
        "{path} has no #! line, so it cannot be executed: start it with a line such as #!/bin/sh"
    )]
    NoShebang { path: PathBuf },
    /// PowerShell is needed but not installed.
    #[error("{path} is a PowerShell script but `pwsh` is not on PATH: install PowerShell or use a #! script")]
    NoPwsh { path: PathBuf },
    /// The process could not be spawned.
    #[error("cannot execute {path}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a script ended.
#[derive(Clone, Debug, Default)]
pub struct ScriptOutcome {
    /// The exit code; `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// Killed because it ran past its timeout.
    pub timed_out: bool,
    /// Seconds it ran.
    pub duration: f64,
    /// The last lines of its output.
    pub tail: Vec<String>,
}

impl ScriptOutcome {
    /// Exit 0 within its time.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Which of a script's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Where a stage's output also goes, as the config's `output` asks: writers for the
/// scripts' stdout and stderr (one writer for both when they name the same target),
/// and the processes (`| command`) that read them. Lines are written as the scripts
/// wrote them, without strap's timestamp and label.
#[derive(Default)]
pub struct Redirect {
    /// The writers; `out` and `err` index into it.
    pub sinks: Vec<Box<dyn Write + Send>>,
    pub out: Option<usize>,
    pub err: Option<usize>,
    /// Processes reading a sink, waited for when the redirect ends.
    pub children: Vec<std::process::Child>,
}

impl Redirect {
    fn write(&mut self, stream: Stream, text: &str) {
        let at = match stream {
            Stream::Out => self.out,
            Stream::Err => self.err,
        };
        if let Some(sink) = at.and_then(|i| self.sinks.get_mut(i)) {
            // A full disk or a pipe whose reader left must not stop the boot.
            let _ = sink.write_all(text.as_bytes());
        }
    }

    /// Flush and close the writers, then give the readers a moment to finish.
    fn close(mut self) {
        for sink in &mut self.sinks {
            let _ = sink.flush();
        }
        self.sinks.clear();
        let until = Instant::now() + REDIRECT_CLOSE_WAIT;
        for mut child in self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// How long a `| command` of the config's `output` may take to finish once its input
/// is closed (it is left running after that).
const REDIRECT_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The output log (`/var/log/strap-output.log`) and the live console, shared by every
/// script and message of a boot, and the stage's redirect (the config's `output`).
#[derive(Clone)]
pub struct OutputLog {
    file: Arc<Mutex<Option<File>>>,
    console: bool,
    clock: Arc<dyn Fn() -> String + Send + Sync>,
    redirect: Arc<Mutex<Option<Redirect>>>,
    /// The longest output line kept ([`MAX_LINE`] unless the system config says).
    max_line: Arc<std::sync::atomic::AtomicUsize>,
}

impl OutputLog {
    /// Append to `path` beneath `root` (created 0600); `console` also shows lines on
    /// stderr.
    pub fn open(
        root: &Path,
        path: &Path,
        console: bool,
        clock: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> std::io::Result<Self> {
        let file = super::records::open_log(root, path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(Some(file))),
            console,
            clock,
            redirect: Arc::new(Mutex::new(None)),
            max_line: Arc::new(MAX_LINE.into()),
        })
    }

    /// A log that only shows lines on the console (tests, `--no-logs`).
    pub fn console_only(clock: Arc<dyn Fn() -> String + Send + Sync>) -> Self {
        Self {
            file: Arc::new(Mutex::new(None)),
            console: true,
            clock,
            redirect: Arc::new(Mutex::new(None)),
            max_line: Arc::new(MAX_LINE.into()),
        }
    }

    /// Cut output lines at `bytes` from now on (`strap_limits.max_log_line`).
    pub fn set_max_line(&self, bytes: usize) {
        self.max_line
            .store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Send what follows also to `redirect` (`None`: nowhere else); the previous
    /// redirect is closed.
    pub fn set_redirect(&self, redirect: Option<Redirect>) {
        let old = match self.redirect.lock() {
            Ok(mut guard) => std::mem::replace(&mut *guard, redirect),
            Err(_) => None,
        };
        if let Some(old) = old {
            old.close();
        }
    }

    /// One line of a script's stdout, from `label`.
    pub fn line(&self, label: &str, text: &str) {
        self.line_on(label, text, Stream::Out);
    }

    /// One line of output from `label`, on `stream`.
    pub fn line_on(&self, label: &str, text: &str, stream: Stream) {
        if self.console {
            crate::say!("{label}: {text}");
        }
        self.raw(&format!("{} {label}: {text}\n", (self.clock)()));
        self.redirected(stream, text);
    }

    /// A message without a label (banners, the final message).
    pub fn message(&self, text: &str) {
        if self.console {
            crate::say!("{text}");
        }
        self.raw(&format!("{} {text}\n", (self.clock)()));
        self.redirected(Stream::Out, text);
    }

    fn redirected(&self, stream: Stream, text: &str) {
        if let Ok(mut guard) = self.redirect.lock() {
            if let Some(redirect) = guard.as_mut() {
                redirect.write(stream, &format!("{text}\n"));
            }
        }
    }

    /// A message for the output log only (the console already has it).
    pub fn log_only(&self, text: &str) {
        self.raw(&format!("{} {text}\n", (self.clock)()));
    }

    fn raw(&self, text: &str) {
        if let Ok(mut guard) = self.file.lock() {
            if let Some(file) = guard.as_mut() {
                // A full disk must not stop the boot: the console still has the line.
                let _ = file.write_all(text.as_bytes());
            }
        }
    }
}

/// What to run and how.
#[derive(Clone, Debug, Default)]
pub struct ScriptSpec {
    /// The label shown before each output line (`runcmd`, `part-001`).
    pub label: String,
    /// The script file (executed directly) …
    pub path: PathBuf,
    /// … or, when set, this program with the path as its last argument (`/bin/sh`).
    pub interpreter: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Kill it after this long.
    pub timeout: Option<Duration>,
    /// Where the running script's process group is noted while it runs (the boot's
    /// `<run>/part.pgid`), so that a boot after a killed one ends what the killed one
    /// left running ([`end_leftover_group`]).
    pub group_record: Option<PathBuf>,
}

/// Whether a file starts with `#!`.
pub fn has_shebang(path: &Path) -> bool {
    let mut head = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"#!")
        .unwrap_or(false)
}

/// Whether a program is on the given PATH.
pub fn on_path(path_var: Option<&str>, program: &str) -> Option<PathBuf> {
    let paths = path_var.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    std::env::split_paths(paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Run a script to its end (or its timeout), streaming its output.
pub fn run_script(spec: &ScriptSpec, out: &OutputLog) -> Result<ScriptOutcome, ExecError> {
    let is_ps1 = spec
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ps1"));
    let path_var = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok());
    let (program, mut args): (PathBuf, Vec<OsString>) = if let Some(interp) = &spec.interpreter {
        (interp.clone(), vec![spec.path.clone().into_os_string()])
    } else if is_ps1 {
        let pwsh = on_path(path_var.as_deref(), PWSH).ok_or_else(|| ExecError::NoPwsh {
            path: spec.path.clone(),
        })?;
        (
            pwsh,
            vec![
                "-NoProfile".into(),
                "-NonInteractive".into(),
                "-File".into(),
                spec.path.clone().into_os_string(),
            ],
        )
    } else {
        if !has_shebang(&spec.path) {
            return Err(ExecError::NoShebang {
                path: spec.path.clone(),
            });
        }
        (spec.path.clone(), Vec::new())
    };
    let mut argv = vec![program.into_os_string()];
    argv.append(&mut args);
    run_command(spec, &argv, out)
}

/// Run a command line (`argv[0]` looked up on PATH) with the spec's label, environment,
/// folder and timeout, streaming its output.
pub fn run_command(
    spec: &ScriptSpec,
    argv: &[OsString],
    out: &OutputLog,
) -> Result<ScriptOutcome, ExecError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ExecError::Spawn {
            path: spec.path.clone(),
            source: std::io::Error::other("empty command line"),
        });
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(&spec.cwd)
        .process_group(0);
    die_with_strap(&mut cmd);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    // ETXTBSY: another thread forked while the script file was still open for writing;
    // the child closes it on exec, so a short retry succeeds (as Go's os/exec does).
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(source) => {
                return Err(ExecError::Spawn {
                    path: PathBuf::from(program),
                    source,
                })
            }
        }
    };
    let leader = child.id();
    let noted = spec.group_record.as_ref().filter(|record| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let ticks = super::records::start_ticks(leader).unwrap_or(0);
        // Never through a link planted under the record's name.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(record)
            .and_then(|mut f| f.write_all(format!("{leader} {ticks}\n").as_bytes()))
            .is_ok()
    });
    let mut streams: Vec<(File, Vec<u8>, Stream)> = Vec::with_capacity(2);
    if let Some(stdout) = child.stdout.take() {
        streams.push((
            File::from(std::os::fd::OwnedFd::from(stdout)),
            Vec::new(),
            Stream::Out,
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        streams.push((
            File::from(std::os::fd::OwnedFd::from(stderr)),
            Vec::new(),
            Stream::Err,
        ));
    }
    let deadline = spec.timeout.map(|t| started + t);
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut emit = |line: &[u8], stream: Stream| {
        let mut line = line;
        while let Some((last, rest)) = line.split_last() {
            if *last == b'\n' || *last == b'\r' {
                line = rest;
            } else {
                break;
            }
        }
        let line = String::from_utf8_lossy(line).into_owned();
        out.line_on(&spec.label, &line, stream);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    };
    let mut timed_out = false;
    let mut exited_at: Option<Instant> = None;
    let mut status = None;
    let pid = child.id() as i32;
    let mut buf = [0u8; 8192];
    let max_line = out.max_line.load(std::sync::atomic::Ordering::Relaxed);
    // Both pipes are read from this thread: poll, read what is there, hand out whole
    // lines; a stream ends at end of file.
    while !streams.is_empty() {
        let ready: Vec<bool> = {
            use std::os::fd::AsFd;
            let mut fds: Vec<nix::poll::PollFd<'_>> = streams
                .iter()
                .map(|(f, _, _)| nix::poll::PollFd::new(f.as_fd(), nix::poll::PollFlags::POLLIN))
                .collect();
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(POLL_MS)) {
                Ok(_) => fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect(),
                Err(nix::errno::Errno::EINTR) => vec![false; streams.len()],
                Err(_) => break,
            }
        };
        let mut ended = Vec::new();
        for (i, (file, pending, stream)) in streams.iter_mut().enumerate() {
            if !ready.get(i).copied().unwrap_or(false) {
                continue;
            }
            match (&*file).read(&mut buf) {
                Ok(0) | Err(_) => {
                    if !pending.is_empty() {
                        emit(pending, *stream);
                    }
                    ended.push(i);
                }
                Ok(n) => {
                    // Only the bytes just read are searched for a newline: a long line
                    // costs linear time, and is cut at `max_line`.
                    let mut searched = pending.len();
                    pending.extend_from_slice(&buf[..n]);
                    loop {
                        let found = pending[searched..].iter().position(|b| *b == b'\n');
                        let end = match found {
                            Some(pos) if searched + pos < max_line => searched + pos + 1,
                            _ if pending.len() >= max_line => max_line,
                            _ => break,
                        };
                        let line: Vec<u8> = pending.drain(..end).collect();
                        emit(&line, *stream);
                        searched = 0;
                    }
                }
            }
        }
        for i in ended.into_iter().rev() {
            streams.remove(i);
        }
        if status.is_none() {
            if let Ok(Some(s)) = child.try_wait() {
                status = Some(s);
                exited_at = Some(Instant::now());
            }
        }
        // Something the script left in the background still holds its output open:
        // stop reading shortly after the script itself ended.
        if exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            for (_, pending, stream) in &streams {
                if !pending.is_empty() {
                    emit(pending, *stream);
                }
            }
            break;
        }
        if status.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            status = child.wait().ok();
            exited_at = Some(Instant::now());
        }
    }
    // The script closed its output but may still run: the timeout still holds.
    while status.is_none() {
        match child.try_wait() {
            Ok(Some(s)) => status = Some(s),
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                timed_out = true;
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                status = child.wait().ok();
            }
            Ok(None) if deadline.is_none() => status = child.wait().ok(),
            Ok(None) => std::thread::sleep(Duration::from_millis(u64::from(POLL_MS))),
            Err(_) => break,
        }
    }
    if let Some(record) = noted {
        let _ = std::fs::remove_file(record);
    }
    Ok(ScriptOutcome {
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        duration: started.elapsed().as_secs_f64(),
        tail: tail.into_iter().collect(),
    })
}

/// Have the kernel kill the child (SIGKILL) when the thread that started it ends, which
/// [`run_command`]'s thread does only once the script has ended or strap is killed. A
/// strap that died before the child set this up makes the child exit at once.
fn die_with_strap(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    let hook = move || -> std::io::Result<()> {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
        if nix::unistd::getppid() != parent {
            // strap ended before the script started (no allocation after a fork).
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook makes two system calls (`prctl`, `getppid`) and builds its errors
    // from error numbers: it allocates nothing and touches no lock or state shared with
    // other threads, as is required between `fork` and `exec`.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// End what a killed boot left running: the process group noted in `record` by
/// [`run_command`], when processes of it are still alive (the script itself dies with
/// strap; a command it was running may not). Linux does not reuse a pid while a process
/// group of that number has members, so processes in the group are the killed part's
/// own, unless a new process with that pid leads it. Returns what was done, for the log.
pub fn end_leftover_group(record: &Path) -> Option<String> {
    let text = super::records::read_regular(record, 64, false).ok()?;
    let text = String::from_utf8(text).ok()?;
    let _ = std::fs::remove_file(record);
    let mut words = text.split_whitespace();
    let pgid: i32 = words.next()?.parse().ok()?;
    let ticks: u64 = words.next()?.parse().ok()?;
    if pgid <= 1 {
        return None;
    }
    // A new process with that pid, started after the script: another group now.
    if let Some(now) = super::records::start_ticks(pgid.unsigned_abs()) {
        if now != ticks {
            return None;
        }
    }
    let members = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process_group(*pid) == Some(pgid))
        .count();
    if members == 0 {
        return None;
    }
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    Some(format!(
        "ended {members} process(es) that the part running when the last boot was killed left behind (process group {pgid})"
    ))
}

/// Field 5 of `/proc/<pid>/stat`: the process group of a live process (`None` for a
/// zombie, which has already ended).
fn process_group(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(1)?.parse().ok()
}

/// How long one poll of a script's output waits before the exit and timeout checks.
const POLL_MS: u16 = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        p
    }

    fn log(dir: &Path) -> OutputLog {
        OutputLog::open(
            dir,
            &dir.join("out.log"),
            false,
            Arc::new(|| "T".to_string()),
        )
        .unwrap()
    }

    #[test]
    fn captures_output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(
            dir.path(),
            "a",
            "#!/bin/sh\necho one\necho two >&2\nexit 3\n",
        );
        let out = log(dir.path());
        let spec = ScriptSpec {
            label: "a".into(),
            path: p,
            cwd: dir.path().into(),
            ..Default::default()
        };
        let r = run_script(&spec, &out).unwrap();
        assert_eq!(r.exit_code, Some(3));
        assert!(!r.success());
        let mut tail = r.tail.clone();
        tail.sort();
        assert_eq!(tail, vec!["one", "two"]);
        let logged = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        assert!(logged.contains("T a: one\n"), "{logged}");
    }

    /// A stage's redirect gets the lines as written, stdout and stderr apart; a pipe's
    /// reader has its input closed and is waited for when the redirect ends.
    #[test]
    fn a_redirect_copies_lines_by_stream_and_closes_its_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let piped = dir.path().join("piped");
        let mut child = Command::new("/bin/sh")
            .args(["-c", &format!("sleep 0.2; cat > {}", piped.display())])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let errs = dir.path().join("errs");
        let out = log(dir.path());
        out.set_redirect(Some(Redirect {
            sinks: vec![Box::new(stdin), Box::new(File::create(&errs).unwrap())],
            out: Some(0),
            err: Some(1),
            children: vec![child],
        }));
        let p = script(dir.path(), "r", "#!/bin/sh\necho one\necho two >&2\n");
        let spec = ScriptSpec {
            label: "r".into(),
            path: p,
            cwd: dir.path().into(),
            ..Default::default()
        };
        run_script(&spec, &out).unwrap();
        out.message("banner");
        out.set_redirect(None);
        out.line("r", "after");
        assert_eq!(std::fs::read_to_string(&piped).unwrap(), "one\nbanner\n");
        assert_eq!(std::fs::read_to_string(&errs).unwrap(), "two\n");
        let logged = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        assert!(logged.contains("T r: after\n"), "{logged}");
    }

    #[test]
    fn refuses_a_script_without_shebang() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "b", "echo hi\n");
        let spec = ScriptSpec {
            label: "b".into(),
            path: p,
            cwd: dir.path().into(),
            ..Default::default()
        };
        let err = run_script(&spec, &log(dir.path())).unwrap_err();
        assert!(err.to_string().contains("no #! line"));
    }

    #[test]
    fn kills_a_script_past_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "c", "#!/bin/sh\necho start\nsleep 30\n");
        let spec = ScriptSpec {
            label: "c".into(),
            path: p,
            cwd: dir.path().into(),
            timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let r = run_script(&spec, &log(dir.path())).unwrap();
        assert!(r.timed_out);
        assert!(!r.success());
        assert_eq!(r.tail, vec!["start"]);
    }

    #[test]
    fn a_last_line_without_newline_and_a_script_that_closes_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(
            dir.path(),
            "d",
            "#!/bin/sh\nprintf 'no newline'\nexec >/dev/null 2>&1\nsleep 30\n",
        );
        let spec = ScriptSpec {
            label: "d".into(),
            path: p,
            cwd: dir.path().into(),
            timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let r = run_script(&spec, &log(dir.path())).unwrap();
        assert_eq!(r.tail, vec!["no newline"]);
        assert!(r.timed_out, "the timeout holds after the output is closed");
    }

    #[test]
    fn a_line_without_end_is_cut_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // 32 MiB on one line: before the cut it was kept whole (and searched again for
        // a newline after every read).
        let p = script(
            dir.path(),
            "e",
            "#!/bin/sh\nhead -c 33554432 /dev/zero | tr '\\0' a\n",
        );
        let spec = ScriptSpec {
            label: "e".into(),
            path: p,
            cwd: dir.path().into(),
            timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let started = Instant::now();
        let r = run_script(&spec, &log(dir.path())).unwrap();
        assert!(r.success());
        assert_eq!(r.tail.len(), TAIL_LINES);
        assert!(r.tail.iter().all(|l| l.len() == MAX_LINE));
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_script_dies_with_the_thread_that_started_it() {
        let child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30").process_group(0);
            die_with_strap(&mut cmd);
            cmd.spawn().unwrap()
        })
        .join()
        .unwrap();
        let mut child = child;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
