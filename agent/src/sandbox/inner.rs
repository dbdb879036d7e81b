//! The three roles of `strap try` (see the module docs of `sandbox`): the host side that
//! starts the sandbox and reads its result, the sandbox process that owns the mount and
//! network namespaces and runs each launch, and the launch process that runs the boot as
//! pid 1 of a new pid namespace under the timeout. They pass a plan and results as JSON
//! files in the work folder, which only the host side creates and removes.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::changes;
use super::limits::{LaunchCgroups, MemoryLimit, PidsLimit};
use super::metadata::Metadata;
use super::preflight::Mode;
use super::report::{parse_boot_report, BootOutcome, LaunchReport, LimitReport, TryReport};
use super::{mounts, net, spawn, Runner, SandboxError, TryOptions};

/// The hidden `strap try` flag that starts the sandbox role.
pub const SANDBOX_FLAG: &str = "--internal-sandbox";
/// The hidden `strap try` flag that starts the launch role.
pub const LAUNCH_FLAG: &str = "--internal-launch";
/// The hidden `strap try` flag giving the launch its index.
pub const LAUNCH_INDEX_FLAG: &str = "--internal-launch-index";
/// The hidden `strap try` flag giving the launch the boot's `RLIMIT_NPROC`.
pub const NPROC_FLAG: &str = "--internal-nproc";
/// The hidden `strap try` flag giving the launch the boot's `RLIMIT_DATA`.
pub const DATA_LIMIT_FLAG: &str = "--internal-data-limit";
/// The whole environment of the boot, as a boot at start-up would have it (nothing of
/// the environment `strap try` was started from): the `PATH` systemd gives services, root's
/// `HOME`, a UTF-8 `LANG`, and `NO_COLOR`, as the output goes to a file read by people.
const BOOT_ENV: [(&str, &str); 5] = [
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
    ("LANG", "C.UTF-8"),
    ("NO_COLOR", "1"),
    // The sandbox's network is its own: the boot does not configure it.
    ("STRAP_NETWORK", "off"),
];
/// Lines of the boot's output kept in the report.
const OUTPUT_TAIL_LINES: usize = 20;
/// The path of the running binary, to start the other roles with.
const SELF_EXE: &str = "/proc/self/exe";
/// Extra time the sandbox gives a launch process beyond `--timeout` before killing it.
const LAUNCH_GRACE: Duration = Duration::from_secs(30);

/// What the host side hands to the sandbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub options: TryOptions,
    pub mode: Mode,
    pub workdir: PathBuf,
    /// The lowest layer, when not the read-only bind of `/` in the work folder (set by
    /// the sandbox process).
    #[serde(default)]
    pub lower: Option<PathBuf>,
}

impl Plan {
    fn user_data(&self) -> PathBuf {
        self.workdir.join("user-data")
    }
    fn then_user_data(&self) -> PathBuf {
        self.workdir.join("user-data-then")
    }
    /// The output of `strap apply --json` in a `--then` launch.
    fn apply_output(&self, i: u32) -> PathBuf {
        self.workdir.join(format!("apply-{i}.json"))
    }
    /// Whether launch `i` applies `--then`'s user data (instead of booting).
    fn applies_then(&self, i: u32) -> bool {
        i > 0 && self.options.then.is_some()
    }
    fn layers(&self) -> PathBuf {
        self.workdir.join("layers")
    }
    fn upper(&self, i: u32) -> PathBuf {
        self.layers().join(format!("upper-{i}"))
    }
    fn work(&self, i: u32) -> PathBuf {
        self.layers().join(format!("work-{i}"))
    }
    fn lower(&self) -> PathBuf {
        self.lower
            .clone()
            .unwrap_or_else(|| self.workdir.join("lower"))
    }
    fn root(&self, i: u32) -> PathBuf {
        self.workdir.join(format!("root-{i}"))
    }
    fn base(&self, i: u32) -> PathBuf {
        if i == 0 {
            self.lower()
        } else {
            self.workdir.join(format!("base-{i}"))
        }
    }
    fn log(&self, i: u32) -> PathBuf {
        self.workdir.join(format!("launch-{i}.log"))
    }
    fn outcome(&self, i: u32) -> PathBuf {
        self.workdir.join(format!("launch-{i}.json"))
    }
    fn result(&self) -> PathBuf {
        self.workdir.join("result.json")
    }
    fn error(&self) -> PathBuf {
        self.workdir.join("error.txt")
    }
    /// The image launch `i` starts from: the earlier upper layers (newest first) over
    /// the root filesystem.
    fn lowers(&self, i: u32) -> Vec<PathBuf> {
        let mut lowers: Vec<PathBuf> = (0..i).rev().map(|j| self.upper(j)).collect();
        lowers.push(self.lower());
        lowers
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SandboxError> {
    let text = std::fs::read(path).map_err(SandboxError::io("read", path))?;
    serde_json::from_slice(&text).map_err(|source| SandboxError::Json {
        op: "parse",
        path: path.to_path_buf(),
        source,
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SandboxError> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| SandboxError::Json {
        op: "serialise",
        path: path.to_path_buf(),
        source,
    })?;
    write_file(path, &text, 0o600)
}

/// Write a file of the work folder (or the sandbox's `/run`). These are messages between
/// the processes of one `strap try`, removed with the work folder: written whole before
/// the reader starts, so no temporary file and no fsync (which cost ~20 ms each).
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), SandboxError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(SandboxError::io("create", path))?;
    file.write_all(contents)
        .map_err(SandboxError::io("write", path))
}

/// SIGINT and SIGTERM ignored while it lives (the sandbox's processes set them back to the
/// default before they exec).
struct IgnoreInterrupts;

impl IgnoreInterrupts {
    fn new() -> Self {
        use nix::sys::signal::{signal, SigHandler, Signal};
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: SIG_IGN runs no code in this process.
            #[allow(unsafe_code)]
            let _ = unsafe { signal(sig, SigHandler::SigIgn) };
        }
        Self
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        use nix::sys::signal::{signal, SigHandler, Signal};
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: SIG_DFL runs no code in this process.
            #[allow(unsafe_code)]
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
}

/// Turn a refusal to create namespaces into the error that says what is missing.
fn spawn_error(err: std::io::Error, mode: Mode) -> SandboxError {
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => SandboxError::Unsupported {
            missing: match mode {
                Mode::Root => "permission to create namespaces (refused with EPERM; a container without CAP_SYS_ADMIN?)".into(),
                Mode::Rootless => "permission to create user namespaces (refused with EPERM; run as root, or allow unprivileged user namespaces)".into(),
            },
        },
        Some(libc::EINVAL) | Some(libc::ENOSPC) | Some(libc::EUSERS) => SandboxError::Unsupported {
            missing: format!("namespaces this kernel refuses to create ({err})"),
        },
        _ => SandboxError::Spawn { role: "sandbox", source: err },
    }
}

/// The host side: write the plan, start the sandbox process in its namespaces, wait, and
/// read its report. The work folder is removed afterwards.
pub fn run_host(
    options: &TryOptions,
    exe: &Path,
    mode: Mode,
    work_base: &Path,
) -> Result<TryReport, SandboxError> {
    let user_data = std::fs::read(&options.userdata)
        .map_err(SandboxError::io("read the user data", &options.userdata))?;
    let workdir = work_base.join(format!(
        "strap-try-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&workdir)
            .map_err(SandboxError::io("create the work folder", &workdir))?;
    }
    let result = run_in_workdir(options, exe, mode, &workdir, &user_data);
    if let Err(err) = std::fs::remove_dir_all(&workdir) {
        tracing::warn!("cannot remove the work folder {}: {err}", workdir.display());
    }
    result
}

fn run_in_workdir(
    options: &TryOptions,
    exe: &Path,
    mode: Mode,
    workdir: &Path,
    user_data: &[u8],
) -> Result<TryReport, SandboxError> {
    let plan = Plan {
        options: options.clone(),
        mode,
        workdir: workdir.to_path_buf(),
        lower: None,
    };
    write_file(&plan.user_data(), user_data, 0o600)?;
    if let Some(then) = &options.then {
        let bytes = std::fs::read(then).map_err(SandboxError::io("read the user data", then))?;
        write_file(&plan.then_user_data(), &bytes, 0o600)?;
    }
    let plan_path = workdir.join("plan.json");
    write_json(&plan_path, &plan)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("try")
        .arg(SANDBOX_FLAG)
        .arg(&plan_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let pre_exec = spawn::sandbox_pre_exec(mode).map_err(|source| SandboxError::Spawn {
        role: "sandbox",
        source,
    })?;
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure only makes system calls on data prepared before the fork
        // (see `spawn`).
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(pre_exec);
        }
    }
    // Ctrl-C (or a SIGTERM to the group) kills the sandbox's processes; this side lives on
    // to remove the work folder and the cgroups they leave.
    let _interrupts = IgnoreInterrupts::new();
    let mut child = cmd.spawn().map_err(|err| spawn_error(err, mode))?;
    let status = child.wait().map_err(|source| SandboxError::Spawn {
        role: "sandbox",
        source,
    })?;
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        super::limits::remove_leftover_cgroups(child.id());
        return Err(SandboxError::Sandbox {
            message: format!("interrupted by signal {signal}; the sandbox was torn down"),
        });
    }
    if !status.success() {
        let message = std::fs::read_to_string(plan.error())
            .unwrap_or_else(|_| format!("the sandbox process ended with {status}"));
        return Err(
            match read_json::<String>(&workdir.join("unsupported.json")) {
                Ok(missing) => SandboxError::Unsupported { missing },
                Err(_) => SandboxError::Sandbox { message },
            },
        );
    }
    let mut report: TryReport = read_json(&plan.result())?;
    report.mode = mode;
    Ok(report)
}

/// The sandbox role: set up the namespaces' mounts and network, serve the metadata, run
/// each launch and write the report. Errors are written to the work folder for the host.
pub async fn sandbox_main(plan_path: &Path) -> Result<(), SandboxError> {
    let plan: Plan = read_json(plan_path)?;
    let result = run_sandbox(&mut plan.clone()).await;
    if let Err(err) = &result {
        let _ = std::fs::write(plan.error(), error_chain(err));
        if let SandboxError::Unsupported { missing } = err {
            let _ = write_json(&plan.workdir.join("unsupported.json"), missing);
        }
    }
    result
}

/// Map a mount refused for lack of a kernel feature to the error that names it.
fn feature(err: SandboxError, name: &str) -> SandboxError {
    match &err {
        SandboxError::Mount { source, .. }
            if matches!(
                source,
                nix::Error::ENODEV | nix::Error::EPERM | nix::Error::EINVAL
            ) =>
        {
            SandboxError::Unsupported {
                missing: format!("{name} ({err}: {source})"),
            }
        }
        _ => err,
    }
}

async fn run_sandbox(plan: &mut Plan) -> Result<(), SandboxError> {
    let opts = &plan.options.clone();
    let rootless = plan.mode == Mode::Rootless;
    mounts::make_private()?;
    mounts::tmpfs(&plan.layers(), Some(opts.max_size), "755")
        .map_err(|e| feature(e, "a tmpfs for the upper layer"))?;
    if let Err(err) = mounts::bind_root_readonly(&plan.lower()) {
        if !rootless {
            return Err(err);
        }
        // In a user namespace the kernel refuses a non-recursive bind of a tree with
        // locked mounts below it; the overlay can still take `/` itself as its lower
        // layer (it sees the root filesystem without the mounts on top either way).
        tracing::debug!("{err}; using / as the lower layer");
        plan.lower = Some(PathBuf::from("/"));
    }
    net::loopback_with(super::IMDS_ADDR)?;
    let user_data =
        std::fs::read(plan.user_data()).map_err(SandboxError::io("read", &plan.user_data()))?;
    let metadata = Metadata::start(opts.mock_config.as_deref(), &user_data).await?;
    // The binary by its path in this mount namespace: a bind mount cannot take
    // `/proc/self/exe`, which still points into the host's namespace.
    let exe =
        std::fs::read_link(SELF_EXE).map_err(SandboxError::io("read link", Path::new(SELF_EXE)))?;
    let mut launches = Vec::new();
    let last = if opts.then.is_some() {
        1
    } else {
        opts.relaunch
    };
    for i in 0..=last {
        if i > 0 && !plan.applies_then(i) {
            metadata.launch_new_instance();
        }
        let lowers = plan.lowers(i);
        if i > 0 {
            mounts::readonly_overlay(&plan.base(i), &lowers, rootless)
                .map_err(|e| feature(e, "overlayfs with several lower layers"))?;
        }
        let root = plan.root(i);
        mounts::overlay(&root, &lowers, &plan.upper(i), &plan.work(i), rootless).map_err(|e| {
            feature(
                e,
                if rootless {
                    "an overlay over / inside a user namespace (the kernel refuses it while \
                         /proc, /dev or /sys are mounted below /; run strap try as root)"
                } else {
                    "overlayfs over the root filesystem"
                },
            )
        })?;
        let run_dir = mounts::prepare_root(&root, &exe)?;
        if opts.runner == Runner::Script {
            let script = run_dir.join("user-data");
            write_file(&script, &user_data, 0o700)?;
        }
        if plan.applies_then(i) {
            let then = std::fs::read(plan.then_user_data())
                .map_err(SandboxError::io("read", &plan.then_user_data()))?;
            write_file(&run_dir.join(super::THEN_USER_DATA), &then, 0o600)?;
        }
        let (outcome, mut limits) = run_launch(plan, i).await?;
        let boot_report =
            read_json::<crate::boot::Report>(&root.join(&super::BOOT_REPORT_PATH[1..])).ok();
        let boot_status = crate::boot::status::read(&root.join(&super::BOOT_RUN_DIR[1..]));
        let boot_status = (boot_status.status != "not started").then(|| boot_status.into());
        // The launch's processes are gone (its pid namespace died with pid 1): the
        // overlay can go, leaving its upper layer to compare and to bake.
        mounts::detach(&root)?;
        let (upper, base) = (plan.upper(i), plan.base(i));
        let files = changes::file_changes(&upper, &base, opts.diff)?;
        let accounts = changes::account_changes(&upper, &base);
        let packages = changes::package_changes(&upper, &base);
        if let Ok(stat) = nix::sys::statvfs::statvfs(&plan.layers()) {
            let block = stat.fragment_size();
            limits.upper_size = stat.blocks() * block;
            limits.upper_used = stat.blocks().saturating_sub(stat.blocks_free()) * block;
            limits.upper_full = stat.blocks_available() == 0;
        }
        if i > 0 {
            mounts::detach(&base)?;
        }
        if let Some(keep) = &opts.keep {
            let dest = if last == 0 {
                keep.clone()
            } else {
                keep.join(format!("launch-{i}"))
            };
            copy_layer(&upper, &dest)?;
        }
        let mut parts = boot_report
            .as_ref()
            .map(parse_boot_report)
            .unwrap_or_default();
        let apply = if plan.applies_then(i) {
            // The record now also holds the first boot's items: keep the apply's.
            parts.retain(|p| p.stage.as_deref() == Some("apply"));
            read_json::<serde_json::Value>(&plan.apply_output(i)).ok()
        } else {
            None
        };
        launches.push(LaunchReport {
            index: i,
            instance_id: metadata.instance_id(),
            outcome,
            parts,
            apply,
            boot_status,
            files,
            accounts,
            packages,
            limits,
        });
    }
    metadata.stop().await;
    let report = TryReport {
        mode: plan.mode,
        launches,
        kept: opts.keep.clone(),
    };
    write_json(&plan.result(), &report)
}

/// Start launch `i` in its pid namespace and wait for it.
async fn run_launch(plan: &Plan, i: u32) -> Result<(BootOutcome, LimitReport), SandboxError> {
    let opts = &plan.options;
    let cgroups = LaunchCgroups::create(i, opts.max_pids, opts.max_memory);
    let mut limits = LimitReport::default();
    let mut cmd = tokio::process::Command::new(SELF_EXE);
    cmd.arg("try")
        .arg(LAUNCH_FLAG)
        .arg(plan.workdir.join("plan.json"))
        .arg(LAUNCH_INDEX_FLAG)
        .arg(i.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    match cgroups.pids_path() {
        Some(path) => {
            limits.pids = Some(PidsLimit::Cgroup {
                path: path.to_path_buf(),
                max: opts.max_pids,
            })
        }
        None if plan.mode == Mode::Rootless => {
            limits.pids = Some(PidsLimit::Rlimit { max: opts.max_pids });
            cmd.arg(NPROC_FLAG).arg(opts.max_pids.to_string());
        }
        None => tracing::warn!(
            "no pids cgroup to limit the boot's processes (RLIMIT_NPROC does not bind root)"
        ),
    }
    match cgroups.memory_path() {
        Some(path) => {
            limits.memory = Some(MemoryLimit::Cgroup {
                path: path.to_path_buf(),
                max: opts.max_memory,
            })
        }
        None => {
            if i == 0 {
                tracing::warn!(
                    "no memory cgroup to limit the boot as a whole: each of its processes \
                     may use up to {} of heap (RLIMIT_DATA)",
                    super::report::human_size(opts.max_memory)
                );
            }
            limits.memory = Some(MemoryLimit::Rlimit {
                max: opts.max_memory,
            });
            cmd.arg(DATA_LIMIT_FLAG).arg(opts.max_memory.to_string());
        }
    }
    let procs = cgroups.procs().iter().map(|f| f.as_raw_fd()).collect();
    let pre_exec = spawn::launch_pre_exec(procs);
    // SAFETY: the closure only makes system calls on data prepared before the fork.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(pre_exec);
    }
    let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
        role: "launch",
        source,
    })?;
    let limit = Duration::from_secs(opts.timeout_secs) + LAUNCH_GRACE;
    if tokio::time::timeout(limit, child.wait()).await.is_err() {
        tracing::warn!("the launch process outlived its timeout; killing it");
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let outcome = read_json::<BootOutcome>(&plan.outcome(i)).unwrap_or_else(|_| BootOutcome {
        timed_out: true,
        output_tail: "(the launch process ended without an outcome)".into(),
        ..BootOutcome::default()
    });
    // pid 1's death kills its namespace; wait for the last processes to be reaped.
    let start = Instant::now();
    while !cgroups.is_empty() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    limits.pids_refused = cgroups.pids_refused();
    limits.memory_peak = cgroups.memory_peak();
    limits.memory_killed = cgroups.oom_kills();
    Ok((outcome, limits))
}

/// The rlimits the launch applies to the boot where there is no cgroup for them.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootRlimits {
    /// `RLIMIT_NPROC`.
    pub nproc: Option<u64>,
    /// `RLIMIT_DATA`, bytes.
    pub data: Option<u64>,
}

/// The launch role: the boot as pid 1 of this process's new pid namespace, moved into the
/// overlay, killed at the timeout. Writes the outcome for the sandbox.
pub async fn launch_main(
    plan_path: &Path,
    index: u32,
    rlimits: BootRlimits,
) -> Result<(), SandboxError> {
    let plan: Plan = read_json(plan_path)?;
    let result = run_boot(&plan, index, rlimits).await;
    if let Err(err) = &result {
        // The sandbox reads the outcome, not this process's stderr: say it there.
        let outcome = BootOutcome {
            output_tail: format!("strap try: {}\n", error_chain(err)),
            ..BootOutcome::default()
        };
        let _ = write_json(&plan.outcome(index), &outcome);
    }
    result
}

/// An error and its causes on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

async fn run_boot(plan: &Plan, index: u32, rlimits: BootRlimits) -> Result<(), SandboxError> {
    let root = plan.root(index);
    let log_path = plan.log(index);
    let log = std::fs::File::create(&log_path).map_err(SandboxError::io("create", &log_path))?;
    let log_err = log
        .try_clone()
        .map_err(SandboxError::io("open", &log_path))?;
    let run_dir = Path::new(super::SANDBOX_RUN_DIR);
    let mut cmd = match plan.options.runner {
        Runner::Boot if plan.applies_then(index) => {
            let mut cmd = tokio::process::Command::new(run_dir.join("strap"));
            cmd.args(["apply", "--yes", "--json", "--user-data"])
                .arg(run_dir.join(super::THEN_USER_DATA));
            cmd
        }
        Runner::Boot => {
            let mut cmd = tokio::process::Command::new(run_dir.join("strap"));
            cmd.arg("run");
            cmd
        }
        Runner::Script => tokio::process::Command::new(run_dir.join("user-data")),
    };
    // `strap apply --json` prints the plan and its outcome: kept apart from the log.
    let stdout = if plan.applies_then(index) {
        let path = plan.apply_output(index);
        std::fs::File::create(&path).map_err(SandboxError::io("create", &path))?
    } else {
        log
    };
    cmd.env_clear()
        .envs(BOOT_ENV)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log_err)
        .kill_on_drop(true);
    let spawn_error = |source| SandboxError::Spawn {
        role: "boot",
        source,
    };
    // As root, the boot makes a user namespace of its own and says on this pipe whether
    // the kernel allowed it.
    let (userns_read, userns_write) = match plan.mode {
        Mode::Root => {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| spawn_error(e.into()))?;
            (Some(read), Some(write))
        }
        Mode::Rootless => (None, None),
    };
    let confinement = spawn::BootConfinement {
        nproc_limit: rlimits.nproc,
        data_limit: rlimits.data,
        user_namespace: userns_write,
    };
    let pre_exec = spawn::boot_pre_exec(&root, confinement).map_err(spawn_error)?;
    // SAFETY: the closure only makes system calls on data prepared before the fork.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(pre_exec);
    }
    let started = Instant::now();
    let spawned = cmd.spawn();
    // The closure holds this side's write end of the pipe: closing it lets the read
    // below end, whether or not the boot wrote.
    drop(cmd);
    let user_namespace = match userns_read {
        Some(read) => {
            use std::io::Read;
            let mut byte = [0u8; 1];
            let mut read = std::fs::File::from(read);
            matches!(read.read(&mut byte), Ok(1)) && byte[0] == b'1'
        }
        None => true,
    };
    let mut child = spawned.map_err(spawn_error)?;
    let timeout = Duration::from_secs(plan.options.timeout_secs);
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status, false),
        Err(_) => {
            // Killing pid 1 kills every process of its namespace; `wait` returns once
            // they are all gone.
            let _ = child.start_kill();
            (child.wait().await, true)
        }
    };
    let status = status.map_err(|source| SandboxError::Spawn {
        role: "boot",
        source,
    })?;
    use std::os::unix::process::ExitStatusExt;
    let outcome = BootOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        output_tail: tail(&log_path),
        user_namespace,
    };
    write_json(&plan.outcome(index), &outcome)
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    let mut out = lines[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Copy an upper layer to `dest`, keeping modes and links; whiteouts stay character
/// devices 0/0 where allowed, else become `.wh.<name>` files (the layer-archive
/// convention).
fn copy_layer(src: &Path, dest: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    std::fs::create_dir_all(dest).map_err(SandboxError::io("create folder", dest))?;
    let entries = std::fs::read_dir(src).map_err(SandboxError::io("read folder", src))?;
    for entry in entries.filter_map(Result::ok) {
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from).map_err(SandboxError::io("read", &from))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            copy_layer(&from, &to)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(SandboxError::io("read link", &from))?;
            std::os::unix::fs::symlink(target, &to)
                .map_err(SandboxError::io("create link", &to))?;
            continue;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(SandboxError::io("copy to", &to))?;
        } else if ft.is_char_device() && meta.rdev() == 0 {
            let made = nix::sys::stat::mknod(
                &to,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            );
            if made.is_err() {
                let name = format!(".wh.{}", entry.file_name().to_string_lossy());
                let marker = dest.join(name);
                std::fs::write(&marker, b"").map_err(SandboxError::io("write", &marker))?;
            }
            continue;
        } else {
            continue;
        }
        let perms = std::fs::Permissions::from_mode(meta.mode() & 0o7777);
        std::fs::set_permissions(&to, perms)
            .map_err(SandboxError::io("set permissions of", &to))?;
    }
    Ok(())
}
