//! The peers palisade's container start is measured against, set up so that
//! every one of them runs the same busybox rootfs with the same isolation.
//!
//! Adjustments this machine needs (recorded in BENCHMARKS.md as well):
//! - OCI bundles get an **absolute** `cgroupsPath`; a relative one would nest
//!   the container under the machine's own `memory:/process_api/...` group.
//! - `crun` 1.8 refuses hybrid cgroups. It runs when started in a private
//!   mount namespace with an empty tmpfs over `/sys/fs/cgroup/unified`; that
//!   namespace is prepared once and joined with one `setns` in the spawned
//!   child (`pre_exec`), so no extra program start is added to crun's time.
//! - `crun spec`/`runc spec` leave out the cgroup namespace; it is added so
//!   every contender unshares the same six namespaces.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Memory limit every contender's cgroup gets.
pub const MEMORY_LIMIT: u64 = 64 << 20;
/// Pids limit every contender's cgroup gets.
pub const PIDS_LIMIT: u64 = 64;

/// Is `program` on `PATH`?
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// An OCI runtime (`crun` or `runc`) with a bundle of the shared rootfs.
pub struct OciRuntime {
    program: &'static str,
    bundle: PathBuf,
    id: String,
    cgroup: String,
    /// Mount namespace to start the runtime in (crun on hybrid hosts).
    mount_ns: Option<OwnedFd>,
}

impl OciRuntime {
    /// Writes `target/bench/<program>/config.json` from `<program> spec`,
    /// adjusted as the module docs describe. `None` when not installed.
    pub fn new(program: &'static str, rootfs: &Path, work: &Path) -> io::Result<Option<Self>> {
        if !installed(program) {
            eprintln!(
                "bench: {program} is not installed (PALISADE_BENCH=1 scripts/setup.sh); skipped"
            );
            return Ok(None);
        }
        let bundle = work.join(program);
        let _ = fs::remove_dir_all(&bundle);
        fs::create_dir_all(&bundle)?;
        let status = Command::new(program)
            .arg("spec")
            .current_dir(&bundle)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!("{program} spec failed: {status}")));
        }
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&config_path)?)?;
        let cgroup = format!("/palisade-bench-{program}-{}", std::process::id());
        adjust_spec(&mut config, rootfs, &cgroup);
        fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let mount_ns = if program == "crun" && hybrid_cgroups() {
            Some(mount_ns_without_unified()?)
        } else {
            None
        };
        Ok(Some(OciRuntime {
            program,
            bundle,
            id: format!("palisade-bench-{program}-{}", std::process::id()),
            cgroup,
            mount_ns,
        }))
    }

    /// `crun`/`runc run` of `/bin/true`, waited for; panics if it fails.
    pub fn run_true(&self) {
        let mut command = Command::new(self.program);
        command
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&self.id)
            .stdin(Stdio::null());
        if let Some(ns) = &self.mount_ns {
            let fd = ns.as_raw_fd();
            // SAFETY: setns is async-signal-safe; the forked child is single-threaded.
            unsafe {
                command.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNS) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let status = command.status().expect("start OCI runtime");
        assert!(status.success(), "{} run failed: {status}", self.program);
    }
}

impl Drop for OciRuntime {
    fn drop(&mut self) {
        // The runtimes remove their container and cgroup on exit; this only
        // catches an interrupted run. Only names this bench created.
        let _ = Command::new(self.program)
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
        for mount in cgroup_mounts() {
            let _ = fs::remove_dir(mount.join(self.cgroup.trim_start_matches('/')));
        }
    }
}

fn adjust_spec(config: &mut serde_json::Value, rootfs: &Path, cgroup: &str) {
    use serde_json::json;
    config["root"] = json!({ "path": rootfs, "readonly": true });
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/true"]);
    let linux = &mut config["linux"];
    linux["cgroupsPath"] = json!(cgroup);
    linux["resources"]["memory"] = json!({ "limit": MEMORY_LIMIT });
    linux["resources"]["pids"] = json!({ "limit": PIDS_LIMIT });
    // What palisade applies by default, so both sides pay for it: Docker's
    // seccomp profile (resolved for Docker's capabilities) and device
    // allow-list.
    let profile = palisade::seccomp::Profile::docker_default(&palisade::CapSet::docker_default());
    linux["seccomp"] = serde_json::from_str(&profile.to_json()).expect("profile JSON");
    linux["resources"]["devices"] =
        serde_json::to_value(palisade::cgroup::DeviceRule::docker_default()).expect("device rules");
    if let Some(namespaces) = linux["namespaces"].as_array_mut()
        && !namespaces.iter().any(|ns| ns["type"] == "cgroup")
    {
        namespaces.push(json!({ "type": "cgroup" }));
    }
}

/// Mount points of every cgroup hierarchy (v1 controllers and cgroup2).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let mount_point = left.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// v1 controllers mounted beside a cgroup2 tree.
fn hybrid_cgroups() -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.contains(" - cgroup ") && info.contains(" - cgroup2 ")
}

/// A mount namespace like ours but with an empty tmpfs over the cgroup2
/// mount, kept alive by its nsfs fd after the helper child exits.
fn mount_ns_without_unified() -> io::Result<OwnedFd> {
    let unified = cgroup_mounts()
        .into_iter()
        .find(|m| {
            fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains(&format!(" {} ", m.display())) && l.contains(" - cgroup2 "))
        })
        .ok_or_else(|| io::Error::other("no cgroup2 mount"))?;
    let target = std::ffi::CString::new(unified.into_os_string().into_encoded_bytes())?;
    let mut ready = [0 as libc::c_int; 2];
    // SAFETY: plain pipe2 into a local array.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just returned by pipe2 and are owned here.
    let (read_end, write_end) = unsafe {
        (
            OwnedFd::from_raw_fd(ready[0]),
            OwnedFd::from_raw_fd(ready[1]),
        )
    };
    // SAFETY: the child only makes raw syscalls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: raw syscalls on pre-built C strings; never returns.
        unsafe {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ) == 0;
            let byte = [u8::from(ok)];
            libc::write(write_end.as_raw_fd(), byte.as_ptr().cast(), 1);
            libc::pause();
            libc::_exit(0);
        }
    }
    drop(write_end);
    let mut byte = [0u8];
    let got = fs::File::from(read_end).read(&mut byte);
    let ns = fs::File::open(format!("/proc/{pid}/ns/mnt"));
    // SAFETY: pid is our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    if got? != 1 || byte[0] != 1 {
        return Err(io::Error::other("could not prepare crun's mount namespace"));
    }
    Ok(OwnedFd::from(ns?))
}

/// `unshare -fpnmiuC --mount-proc --root ROOTFS /bin/true` (no cgroup limits:
/// util-linux has no cgroup option).
pub fn unshare_true(rootfs: &Path) {
    let status = Command::new("unshare")
        .args(["-fpnmiuC", "--mount-proc"])
        .arg(format!("--root={}", rootfs.display()))
        .arg("/bin/true")
        .status()
        .expect("start unshare");
    assert!(status.success(), "unshare failed: {status}");
}

/// `bwrap --unshare-all --bind ROOTFS / --proc /proc --dev /dev /bin/true`
/// (no cgroup limits: bwrap does not manage cgroups).
pub fn bwrap_true(rootfs: &Path) {
    let status = Command::new("bwrap")
        .arg("--unshare-all")
        .arg("--bind")
        .arg(rootfs)
        .args(["/", "--proc", "/proc", "--dev", "/dev", "/bin/true"])
        .status()
        .expect("start bwrap");
    assert!(status.success(), "bwrap failed: {status}");
}

/// The floor: fork + exec of the host's `/bin/true`, waited for.
pub fn fork_exec_true() {
    let status = Command::new("/bin/true").status().expect("spawn /bin/true");
    assert!(status.success());
}

/// Flushes stdout so criterion's progress lines interleave with ours.
pub fn note(message: &str) {
    let mut out = io::stdout();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}
