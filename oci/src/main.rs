//! `palisade-oci`: an OCI runtime with runc's command line, built on
//! palisade. See the crate's README section for containerd and podman.

use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade::{Attached, Exec, Status};
use palisade_oci::bundle::{self, Options};
use palisade_oci::signal;
use palisade_oci::state::{self, Locked, Stored};
use serde_json::json;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nspec: 1.2.0\npalisade: ",
    env!("CARGO_PKG_VERSION")
);

#[derive(Parser)]
#[command(name = "palisade-oci", version = VERSION, about = "An OCI runtime built on palisade (runc-compatible command line)")]
struct Cli {
    /// Directory of the containers' state.
    #[arg(long, global = true, default_value = "/run/palisade-oci")]
    root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd's cgroup driver: each container's group is a transient
    /// scope unit, `linux.cgroupsPath` is `slice:prefix:name`.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (default auto: when not root).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args)]
struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the container's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Socket to send the pty master to (terminals are not supported yet).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Enter the root by mount --move + chroot, not pivot_root (for
    /// initramfs roots; weaker: the old root stays beneath the container's /).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Keep the caller's session keyring instead of joining a new one.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass the caller's fds 3..3+N to the program at the same numbers.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its program waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container; without -d, wait for it and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait for the container.
        #[arg(short, long)]
        detach: bool,
        /// Keep the state after the container exits.
        #[arg(long)]
        keep: bool,
    },
    /// The container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's first process.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and what it holds on the host.
    Delete {
        /// Kill it first if it runs.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run a new process in a running container.
    Exec {
        /// process.json of the new process.
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Do not wait for the process.
        #[arg(short, long)]
        detach: bool,
        /// File to write the process's pid to.
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Socket for the pty master (terminals are not supported yet).
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Allocate a terminal (not supported yet).
        #[arg(short, long)]
        tty: bool,
        /// KEY=VALUE to set.
        #[arg(short, long)]
        env: Vec<String>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<String>,
        /// uid[:gid].
        #[arg(short, long)]
        user: Option<String>,
        /// Capabilities (the whole set of the process).
        #[arg(short, long)]
        cap: Vec<String>,
        /// Set no_new_privs.
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// Pass the caller's fds 3..3+N to the process at the same numbers.
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        id: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// The container's processes.
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        id: String,
        /// Extra ps(1) arguments (table format).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw it.
    Resume { id: String },
    /// Change the container's resources.
    Update {
        /// linux.resources JSON file, or - for stdin.
        #[arg(short, long)]
        resources: Option<String>,
        /// Memory limit in bytes.
        #[arg(long)]
        memory: Option<i64>,
        /// Memory+swap limit in bytes.
        #[arg(long = "memory-swap")]
        memory_swap: Option<i64>,
        /// Memory reservation in bytes.
        #[arg(long = "memory-reservation")]
        memory_reservation: Option<i64>,
        /// Pids limit.
        #[arg(long = "pids-limit")]
        pids_limit: Option<i64>,
        /// CPU shares.
        #[arg(long = "cpu-shares")]
        cpu_shares: Option<u64>,
        /// CPU quota (µs per period).
        #[arg(long = "cpu-quota")]
        cpu_quota: Option<i64>,
        /// CPU period (µs).
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        /// CPUs allowed.
        #[arg(long = "cpuset-cpus")]
        cpuset_cpus: Option<String>,
        /// Memory nodes allowed.
        #[arg(long = "cpuset-mems")]
        cpuset_mems: Option<String>,
        /// Block I/O weight.
        #[arg(long = "blkio-weight")]
        blkio_weight: Option<u16>,
        id: String,
    },
    /// Resource usage and OOM events, as JSON lines.
    Events {
        /// One stats event, then exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Every container under --root.
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        /// Ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// What this runtime supports, as JSON (runtime-spec features.md).
    Features,
}

struct Log {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

static LOG: OnceLock<Log> = OnceLock::new();

fn log(level: &str, msg: &str) {
    let Some(l) = LOG.get() else { return };
    if level == "debug" && !l.debug {
        return;
    }
    let line = if l.json {
        json!({"level": level, "msg": msg, "time": state::now_rfc3339()}).to_string()
    } else {
        format!("{} {level}: {msg}", state::now_rfc3339())
    };
    match &l.file {
        Some(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        // Without a log file only errors reach stderr (printed by main).
        None if l.debug => eprintln!("{line}"),
        None => {}
    }
}

type Result<T> = std::result::Result<T, String>;

fn err<E: std::fmt::Display>(ctx: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{ctx}: {e}")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = LOG.set(Log {
        file: cli.log.clone(),
        json: cli.log_format == LogFormat::Json,
        debug: cli.debug,
    });
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            log("error", &msg);
            eprintln!("palisade-oci: {msg}");
            ExitCode::from(1)
        }
    }
}

fn rootless(cli: &Cli) -> Result<bool> {
    // SAFETY: geteuid has no preconditions.
    let auto = unsafe { libc::geteuid() } != 0;
    match cli.rootless.as_deref() {
        None | Some("auto") => Ok(auto),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(o) => Err(format!("--rootless {o:?}: true, false or auto")),
    }
}

fn run(cli: &Cli) -> Result<u8> {
    log(
        "debug",
        &format!("args {:?}", std::env::args().collect::<Vec<_>>()),
    );
    match &cli.cmd {
        Cmd::Create(a) => create(cli, a).map(|_| 0),
        Cmd::Start { id } => start(cli, id).map(|_| 0),
        Cmd::Run {
            create: a,
            detach,
            keep,
        } => run_cmd(cli, a, *detach, *keep),
        Cmd::State { id } => {
            let l = Locked::open(&cli.root, id).map_err(|e| e.to_string())?;
            let s = l.load().map_err(|e| e.to_string())?;
            let a = attach(&s)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state_json(&s, &a)).expect("json")
            );
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => kill(cli, id, *all, signal.as_deref()).map(|_| 0),
        Cmd::Delete { force, id } => delete(cli, id, *force).map(|_| 0),
        Cmd::Exec { .. } => exec(cli),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => ps(cli, id, *format, ps_args).map(|_| 0),
        Cmd::Pause { id } => {
            let (_l, _s, a) = open(cli, id)?;
            match a.status() {
                Status::Running => a.freeze().map_err(err(&format!("pause {id}"))),
                s => Err(format!("container {id} is not running ({})", status_str(s))),
            }?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            let (_l, _s, a) = open(cli, id)?;
            match a.status() {
                Status::Paused => a.thaw().map_err(err(&format!("resume {id}"))),
                s => Err(format!("container {id} is not paused ({})", status_str(s))),
            }?;
            Ok(0)
        }
        Cmd::Update { .. } => update(cli).map(|_| 0),
        Cmd::Events {
            stats,
            interval,
            id,
        } => events(cli, id, *stats, interval).map(|_| 0),
        Cmd::List { format, quiet } => list(cli, *format, *quiet).map(|_| 0),
        Cmd::Spec { bundle } => spec(cli, bundle).map(|_| 0),
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).expect("json")
            );
            Ok(0)
        }
    }
}

fn attach(s: &Stored) -> Result<Attached> {
    Attached::attach(s.palisade.clone()).map_err(err(&format!("container {}", s.id)))
}

fn open(cli: &Cli, id: &str) -> Result<(Locked, Stored, Attached)> {
    let l = Locked::open(&cli.root, id).map_err(|e| e.to_string())?;
    let s = l.load().map_err(|e| e.to_string())?;
    let a = attach(&s)?;
    Ok((l, s, a))
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Stopped => "stopped",
    }
}

/// runc's `state` JSON (the runtime spec's state plus `created`/`owner`).
fn state_json(s: &Stored, a: &Attached) -> serde_json::Value {
    let status = a.status();
    let mut v = json!({
        "ociVersion": "1.2.0",
        "id": s.id,
        "pid": if status == Status::Stopped { 0 } else { s.palisade.pid },
        "status": status_str(status),
        "bundle": s.bundle,
        "rootfs": s.rootfs,
        "created": s.created,
        "owner": "",
    });
    if !s.annotations.is_empty() {
        v["annotations"] = json!(s.annotations);
    }
    v
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    // No trailing newline, as runc writes it.
    state::write_atomic(path, pid.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// Fds 3..3+N of the caller, for the program at the same numbers (runc's
/// --preserve-fds; systemd's LISTEN_FDS convention): each dup'd
/// close-on-exec above them, to be passed with `pass_fd`. Call before this
/// process opens anything of its own.
fn take_preserved_fds(n: u32) -> Result<Vec<(std::os::fd::OwnedFd, i32)>> {
    let mut preserved = Vec::new();
    let Ok(count) = i32::try_from(n) else {
        return Err(format!("--preserve-fds {n}: too many"));
    };
    for fd in 3..3i32.saturating_add(count) {
        // SAFETY: fcntl(F_GETFD) only probes the fd.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("--preserve-fds {n}: fd {fd} is not open"));
        }
        // SAFETY: an fd the caller passed us and nothing here owns yet;
        // F_DUPFD_CLOEXEC gives this process its own close-on-exec copy.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3i32.saturating_add(count)) };
        if dup < 0 {
            return Err(format!(
                "--preserve-fds: dup of fd {fd}: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: dup is a fresh fd owned by no one else.
        preserved.push((unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) }, fd));
    }
    Ok(preserved)
}

fn create(cli: &Cli, a: &CreateArgs) -> Result<i32> {
    // Taken first, before this process opens anything of its own.
    let preserved = take_preserved_fds(a.preserve_fds)?;
    let bundle =
        std::fs::canonicalize(&a.bundle).map_err(err(&format!("bundle {}", a.bundle.display())))?;
    let locked = Locked::create(&cli.root, &a.id).map_err(|e| e.to_string())?;
    let made = (|| -> Result<i32> {
        let spec = bundle::load(&bundle).map_err(|e| e.to_string())?;
        let terminal = spec
            .process()
            .as_ref()
            .is_some_and(|p| p.terminal() == Some(true));
        if a.console_socket.is_some() && !terminal {
            return Err("--console-socket given but process.terminal is not true".into());
        }
        if terminal && a.console_socket.is_none() {
            return Err(
                "process.terminal needs --console-socket (the pty master has nowhere to go)".into(),
            );
        }
        let t = bundle::translate(
            &spec,
            &bundle,
            &Options {
                id: a.id.clone(),
                rootless: rootless(cli)?,
                console_socket: a.console_socket.clone(),
                systemd_cgroup: cli.systemd_cgroup,
            },
        )
        .map_err(|e| e.to_string())?;
        for n in &t.notes {
            log("warning", n);
        }
        let mut container = t.container.no_pivot(a.no_pivot);
        if a.no_new_keyring {
            container = container.session_keyring(false);
        }
        for (fd, number) in preserved {
            container = container.pass_fd(fd, number);
        }
        let created = container
            .create()
            .map_err(err(&format!("create {}", a.id)))?;
        let pid = created.pid();
        let st = created.detach().map_err(err(&format!("create {}", a.id)))?;
        let stored = Stored {
            id: a.id.clone(),
            bundle: bundle.clone(),
            rootfs: t.rootfs,
            created: state::now_rfc3339(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            palisade: st,
            hooks: t.post_hooks,
        };
        if let Err(e) = locked.save(&stored) {
            let _ = Attached::attach(stored.palisade).map(Attached::cleanup);
            return Err(e.to_string());
        }
        if let Some(p) = &a.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(pid)
    })();
    match made {
        Ok(pid) => Ok(pid),
        Err(e) => {
            let _ = locked.remove();
            Err(e)
        }
    }
}

fn start(cli: &Cli, id: &str) -> Result<()> {
    let (l, mut s, mut a) = open(cli, id)?;
    match a.status() {
        Status::Created => {}
        other => {
            return Err(format!(
                "cannot start container {id}: it is {}, not created",
                status_str(other)
            ));
        }
    }
    a.start().map_err(err(&format!("start {id}")))?;
    s.palisade = a.state().clone();
    l.save(&s).map_err(|e| e.to_string())?;
    let state = state_json(&s, &a).to_string();
    for h in &s.hooks.poststart {
        // The spec: a poststart failure is logged, the container runs on.
        if let Err(e) = bundle::run_hook(h, &state) {
            log("warning", &format!("poststart {e}"));
        }
    }
    Ok(())
}

fn run_cmd(cli: &Cli, a: &CreateArgs, detach: bool, keep: bool) -> Result<u8> {
    // In the foreground, the signals a terminal or supervisor sends this
    // process go to the container's first process (runc's behaviour):
    // blocked from before the container exists, so none is lost or fatal.
    let forward = if detach {
        None
    } else {
        Some(signal::Forwarder::new().map_err(err("blocking the forwarded signals"))?)
    };
    let pid = create(cli, a)?;
    if let Err(e) = start(cli, &a.id) {
        let _ = delete(cli, &a.id, true);
        return Err(e);
    }
    let Some(forward) = forward else {
        return Ok(0);
    };
    // The first process is this process's child: reap it here.
    let code = match forward.wait(pid) {
        Err(e) => {
            log("error", &format!("waiting for {}: {e}", a.id));
            255
        }
        Ok(st) if libc::WIFEXITED(st) => libc::WEXITSTATUS(st) as u8,
        Ok(st) if libc::WIFSIGNALED(st) => (128 + libc::WTERMSIG(st)) as u8,
        Ok(_) => 255,
    };
    if !keep {
        delete(cli, &a.id, true)?;
    }
    Ok(code)
}

fn kill(cli: &Cli, id: &str, all: bool, sig: Option<&str>) -> Result<()> {
    let (_l, _s, a) = open(cli, id)?;
    let sig = match sig {
        None => libc::SIGTERM,
        Some(s) => signal::parse(s).ok_or_else(|| format!("unknown signal {s:?}"))?,
    };
    let status = a.status();
    if status == Status::Stopped && !all {
        // containerd and podman match runc's words.
        return Err("container not running".into());
    }
    if all {
        if sig == libc::SIGKILL {
            a.kill_all().map_err(err(&format!("kill --all {id}")))?;
        } else {
            for pid in a.processes().map_err(err(&format!("kill --all {id}")))? {
                // SAFETY: kill with integer arguments; a process gone since
                // the listing is no error.
                unsafe { libc::kill(pid, sig) };
            }
        }
        return Ok(());
    }
    a.kill(sig).map_err(err(&format!("kill {id}")))
}

fn delete(cli: &Cli, id: &str, force: bool) -> Result<()> {
    let (l, s, a) = match open(cli, id) {
        Ok(x) => x,
        // `delete --force` of a missing container succeeds, as with runc.
        Err(e) if force && e.ends_with("does not exist") => return Ok(()),
        Err(e) => return Err(e),
    };
    match a.status() {
        Status::Stopped | Status::Created => {}
        s if force => {
            a.kill_all().map_err(err(&format!("delete {id}")))?;
            if s == Status::Paused {
                let _ = a.thaw();
            }
        }
        s => {
            return Err(format!(
                "cannot delete container {id} that is not stopped: {}",
                status_str(s)
            ));
        }
    }
    let mut state = state_json(&s, &a);
    a.cleanup().map_err(err(&format!("delete {id}")))?;
    state["status"] = json!("stopped");
    for h in &s.hooks.poststop {
        if let Err(e) = bundle::run_hook(h, &state.to_string()) {
            log("warning", &format!("poststop {e}"));
        }
    }
    l.remove().map_err(|e| e.to_string())
}

fn parse_user(u: &str) -> Result<(u32, u32)> {
    let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
    let n = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("--user {u:?}: numeric uid[:gid] only"))
    };
    Ok((n(uid)?, n(gid)?))
}

fn exec(cli: &Cli) -> Result<u8> {
    let Cmd::Exec {
        process,
        detach,
        pid_file,
        console_socket,
        tty,
        env,
        cwd,
        user,
        cap,
        no_new_privs,
        preserve_fds,
        id,
        cmd,
    } = &cli.cmd
    else {
        unreachable!()
    };
    let mut terminal = *tty;
    // Before anything of ours is opened (the state, the process file).
    let preserved = take_preserved_fds(*preserve_fds)?;
    let (_l, s, a) = open(cli, id)?;
    let mut e = if let Some(path) = process {
        let text = std::fs::read_to_string(path).map_err(err(&path.display().to_string()))?;
        let p: oci_spec::runtime::Process =
            serde_json::from_str(&text).map_err(err(&path.display().to_string()))?;
        if p.terminal() == Some(true) {
            terminal = true;
        }
        let args = p.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err("process.args: empty".into());
        }
        let envs = bundle::parse_env("process.env", p.env().as_deref().unwrap_or(&[]))
            .map_err(|e| e.to_string())?;
        let mut e =
            Exec::new(bundle::lookup(&args[0], &envs, &s.rootfs)).args(args[1..].iter().cloned());
        for (k, v) in &envs {
            e = e.env(k, v);
        }
        e = e
            .cwd(&p.cwd().to_string_lossy())
            .user(p.user().uid(), p.user().gid());
        if let Some(caps) = p.capabilities() {
            e = e.capabilities(
                bundle::capabilities("process.capabilities", caps, p.user().uid())
                    .map_err(|e| e.to_string())?,
            );
        }
        if let Some(n) = p.no_new_privileges() {
            e = e.no_new_privs(n);
        }
        if p.user()
            .additional_gids()
            .as_ref()
            .is_some_and(|g| !g.is_empty())
        {
            return Err("process.user.additionalGids: not supported for exec yet".into());
        }
        if p.apparmor_profile()
            .as_deref()
            .is_some_and(|s| !s.is_empty())
        {
            return Err("process.apparmorProfile: not supported".into());
        }
        e
    } else {
        if cmd.is_empty() {
            return Err("exec needs a command or --process".into());
        }
        let envs = bundle::parse_env("--env", env).map_err(|e| e.to_string())?;
        let mut e =
            Exec::new(bundle::lookup(&cmd[0], &envs, &s.rootfs)).args(cmd[1..].iter().cloned());
        for (k, v) in &envs {
            e = e.env(k, v);
        }
        if let Some(c) = cwd {
            e = e.cwd(c);
        }
        if let Some(u) = user {
            let (uid, gid) = parse_user(u)?;
            e = e.user(uid, gid);
        }
        if !cap.is_empty() {
            let mut set = palisade::CapSet::EMPTY;
            for c in cap {
                set.insert(c.parse().map_err(err(&format!("--cap {c}")))?);
            }
            e = e.capabilities(set);
        }
        if *no_new_privs {
            e = e.no_new_privs(true);
        }
        e
    };
    if terminal != console_socket.is_some() {
        return Err("exec: --tty (or process.terminal) and --console-socket go together".into());
    }
    if terminal {
        e = e.terminal(24, 80);
    }
    for (fd, number) in preserved {
        e = e.pass_fd(fd, number);
    }
    let mut child = a.exec(e).map_err(err(&format!("exec in {id}")))?;
    if let (Some(sock), Some(pty)) = (console_socket, child.take_pty()) {
        use std::os::fd::AsFd;
        palisade_oci::console::send(sock, pty.as_fd(), "/dev/ptmx")
            .map_err(err(&format!("--console-socket {}", sock.display())))?;
    }
    if let Some(p) = pid_file {
        write_pid_file(p, child.pid())?;
    }
    if *detach {
        // The process stays this process's child until we exit, then the
        // caller's subreaper (the shim, conmon) reaps it.
        child.detach().map_err(err(&format!("exec in {id}")))?;
        return Ok(0);
    }
    let status = child.wait().map_err(err(&format!("exec in {id}")))?;
    Ok(match status {
        palisade::ExitStatus::Exited(c) => c as u8,
        palisade::ExitStatus::Signaled { signal, .. } => (128 + signal) as u8,
        #[allow(unreachable_patterns)]
        _ => 255,
    })
}

fn ps(cli: &Cli, id: &str, format: Format, ps_args: &[String]) -> Result<()> {
    let (_l, _s, a) = open(cli, id)?;
    let pids = a.processes().map_err(err(&format!("ps {id}")))?;
    match format {
        Format::Json => println!("{}", json!(pids)),
        Format::Table => {
            if pids.is_empty() {
                return Ok(());
            }
            let list: Vec<String> = pids.iter().map(i32::to_string).collect();
            let mut c = std::process::Command::new("ps");
            if ps_args.is_empty() {
                c.arg("-f");
            } else {
                c.args(ps_args);
            }
            let st = c
                .arg("-p")
                .arg(list.join(","))
                .status()
                .map_err(err("ps(1)"))?;
            if !st.success() {
                return Err(format!("ps(1) failed: {st}"));
            }
        }
    }
    Ok(())
}

fn update(cli: &Cli) -> Result<()> {
    let Cmd::Update {
        resources,
        memory,
        memory_swap,
        memory_reservation,
        pids_limit,
        cpu_shares,
        cpu_quota,
        cpu_period,
        cpuset_cpus,
        cpuset_mems,
        blkio_weight,
        id,
    } = &cli.cmd
    else {
        unreachable!()
    };
    let (_l, _s, a) = open(cli, id)?;
    let mut r: oci_spec::runtime::LinuxResources = match resources.as_deref() {
        None => Default::default(),
        Some("-") => serde_json::from_reader(std::io::stdin()).map_err(err("--resources -"))?,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(err(path))?;
            serde_json::from_str(&text).map_err(err(path))?
        }
    };
    // Flags override the file, as with runc.
    let mut v = serde_json::to_value(&r).expect("json");
    let mut set = |ptr: &[&str], val: serde_json::Value| {
        let mut cur = &mut v;
        for (i, k) in ptr.iter().enumerate() {
            if i + 1 == ptr.len() {
                cur[*k] = val.clone();
            } else {
                if cur.get(*k).is_none_or(|x| x.is_null()) {
                    cur[*k] = json!({});
                }
                cur = &mut cur[*k];
            }
        }
    };
    if let Some(x) = memory {
        set(&["memory", "limit"], json!(x));
    }
    if let Some(x) = memory_swap {
        set(&["memory", "swap"], json!(x));
    }
    if let Some(x) = memory_reservation {
        set(&["memory", "reservation"], json!(x));
    }
    if let Some(x) = pids_limit {
        set(&["pids", "limit"], json!(x));
    }
    if let Some(x) = cpu_shares {
        set(&["cpu", "shares"], json!(x));
    }
    if let Some(x) = cpu_quota {
        set(&["cpu", "quota"], json!(x));
    }
    if let Some(x) = cpu_period {
        set(&["cpu", "period"], json!(x));
    }
    if let Some(x) = cpuset_cpus {
        set(&["cpu", "cpus"], json!(x));
    }
    if let Some(x) = cpuset_mems {
        set(&["cpu", "mems"], json!(x));
    }
    if let Some(x) = blkio_weight {
        set(&["blockIO", "weight"], json!(x));
    }
    r = serde_json::from_value(v).map_err(err("update"))?;
    let (mut res, rules) = bundle::resources(&r).map_err(|e| e.to_string())?;
    if let Some(rules) = rules {
        res.devices = rules;
    }
    let cg = a
        .cgroup()
        .ok_or_else(|| format!("container {id} has no cgroup"))?;
    cg.apply(&res).map_err(err(&format!("update {id}")))
}

/// runc's `events` stats shape (types/events.go), from palisade's figures.
fn stats_json(id: &str, a: &Attached) -> Result<serde_json::Value> {
    let s = a.stats().map_err(err(&format!("events {id}")))?;
    let mem_limit = a
        .cgroup()
        .and_then(|c| c.v1_dir(palisade::cgroup::Controller::Memory))
        .and_then(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
        .and_then(|t| t.trim().parse::<u64>().ok());
    let n = |o: Option<u64>| o.unwrap_or(0);
    Ok(json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {
                "usage": {
                    "total": n(s.cpu_usage_usec) * 1000,
                    "kernel": n(s.cpu_system_usec) * 1000,
                    "user": n(s.cpu_user_usec) * 1000,
                },
                "throttling": {
                    "periods": n(s.cpu_nr_periods),
                    "throttledPeriods": n(s.cpu_nr_throttled),
                    "throttledTime": n(s.cpu_throttled_usec) * 1000,
                },
            },
            "memory": {
                "usage": {
                    "usage": n(s.memory_current),
                    "max": n(s.memory_peak),
                    "limit": mem_limit.unwrap_or(0),
                    "failcnt": 0,
                },
                "oom_kill": n(s.oom_kills),
            },
            "pids": {"current": n(s.pids_current), "limit": n(s.pids_limit)},
            "blkio": {
                "ioServiceBytesRecursive": [
                    {"op": "Read", "value": n(s.io_read_bytes)},
                    {"op": "Write", "value": n(s.io_write_bytes)},
                ],
            },
        },
    }))
}

fn parse_interval(s: &str) -> Result<std::time::Duration> {
    let bad = || format!("--interval {s:?}: e.g. 5s, 500ms, 1m");
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .ok_or_else(bad)?;
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

fn events(cli: &Cli, id: &str, once: bool, interval: &str) -> Result<()> {
    let interval = parse_interval(interval)?;
    let (l, _s, a) = open(cli, id)?;
    if once {
        println!("{}", stats_json(id, &a)?);
        return Ok(());
    }
    // Do not hold the lock while streaming.
    drop(l);
    let mut ooms = a.stats().ok().and_then(|s| s.oom_kills).unwrap_or(0);
    let mut last = std::time::Instant::now() - interval;
    while a.status() != Status::Stopped {
        if let Some(now) = a.stats().ok().and_then(|s| s.oom_kills) {
            if now > ooms {
                println!("{}", json!({"type": "oom", "id": id}));
                ooms = now;
            }
        }
        if last.elapsed() >= interval {
            println!("{}", stats_json(id, &a)?);
            last = std::time::Instant::now();
        }
        std::thread::sleep(std::time::Duration::from_millis(200).min(interval));
    }
    Ok(())
}

fn list(cli: &Cli, format: Format, quiet: bool) -> Result<()> {
    let mut rows = Vec::new();
    for id in state::list(&cli.root) {
        let Ok(l) = Locked::open(&cli.root, &id) else {
            continue;
        };
        let Ok(s) = l.load() else { continue };
        let a = attach(&s)?;
        rows.push(state_json(&s, &a));
    }
    if quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or(""));
        }
        return Ok(());
    }
    match format {
        Format::Json => println!("{}", json!(rows)),
        Format::Table => {
            println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER");
            for r in &rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\troot",
                    r["id"].as_str().unwrap_or(""),
                    r["pid"],
                    r["status"].as_str().unwrap_or(""),
                    r["bundle"].as_str().unwrap_or(""),
                    r["created"].as_str().unwrap_or(""),
                );
            }
        }
    }
    Ok(())
}

fn spec(cli: &Cli, bundle: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(format!("{}: already exists", path.display()));
    }
    let mut s = if rootless(cli)? {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        oci_spec::runtime::Spec::rootless(uid, gid)
    } else {
        oci_spec::runtime::Spec::default()
    };
    // palisade has no terminals yet: a default that runs.
    if let Some(p) = s.process_mut() {
        p.set_terminal(Some(false));
    }
    // Nor a read-only root yet.
    if let Some(r) = s.root_mut() {
        r.set_readonly(Some(false));
    }
    let text = serde_json::to_string_pretty(&s).map_err(err("spec"))?;
    std::fs::write(&path, text).map_err(err(&path.display().to_string()))
}

fn features() -> serde_json::Value {
    let caps: Vec<String> = palisade::Capability::all_supported()
        .map(|c| c.to_string())
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "mode", "size", "uid", "gid"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": cfg!(feature = "systemd"), "systemdUser": cfg!(feature = "systemd"), "rdma": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
        },
        "annotations": {"org.palisade.oci.version": env!("CARGO_PKG_VERSION")},
    })
}
