//! The `palisade-oci` binary driven as containerd's shim and conmon drive
//! runc: a busybox bundle, `--root` in a temp dir, outcomes read back from
//! the kernel (`/proc/<pid>`, the cgroup's files) and the state JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palisade_testkit::{TempDir, busybox_rootfs, require_root, unique_name};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_palisade-oci");

struct Env {
    dir: TempDir,
}

impl Env {
    fn new(tag: &str) -> Env {
        Env {
            dir: TempDir::new(tag),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.subdir("state")
    }

    /// A bundle whose root is the shared busybox tree, with `args`.
    fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.subdir(name);
        std::fs::create_dir_all(&b).unwrap();
        let out = self.cmd(&["spec", "--bundle", b.to_str().unwrap()]);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = b.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["root"]["path"] = json!(busybox_rootfs());
        v["process"]["args"] = json!(args);
        // A top-level group of its own: nothing (no parent) left behind.
        v["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("oci")));
        edit(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
        b
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .output()
            .unwrap()
    }

    /// For `create`: the container inherits the runtime's stdio, so it gets
    /// files (as the shim's fifos), not the pipes `output()` would wait on.
    fn cmd_detached(&self, args: &[&str]) -> Output {
        let err = self.dir.path().join("create.err");
        let status = Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&err).unwrap(),
        }
    }

    fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Deletes the container (`delete --force`) when the test ends, even by a
/// panic, so a failed assertion leaves no process or cgroup behind.
struct Guard<'a> {
    env: &'a Env,
    id: String,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.env.cmd(&["delete", "--force", &self.id]);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn exe_of(pid: i64) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

#[test]
fn run_returns_the_exit_code_and_leaves_nothing() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-run");
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255)] {
        let b = env.bundle("b", &["/bin/sh", "-c", script], |_| {});
        let id = unique_name("run");
        let out = env.cmd(&["run", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(code), "{script}: {}", stderr(&out));
        assert!(
            stderr(&out).is_empty(),
            "stderr not quiet: {}",
            stderr(&out)
        );
        assert!(!env.root().join(&id).exists(), "state left for {id}");
        std::fs::remove_file(b.join("config.json")).unwrap();
    }
}

#[test]
fn lifecycle_create_start_state_kill_delete() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-life");
    let b = env.bundle("b", &["/bin/sleep", "60"], |v| {
        v["hostname"] = json!("oci-life");
        v["linux"]["resources"] = json!({"pids": {"limit": 17}});
    });
    let id = unique_name("life");
    let _guard = Guard {
        env: &env,
        id: id.clone(),
    };
    let cg = unique_name("oci-life");
    std::fs::write(b.join("config.json"), {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        v["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
        v.to_string()
    })
    .unwrap();
    let pid_file = env.dir.path().join("pid");
    let out = env.cmd_detached(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let text = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!text.ends_with('\n'), "pid file has a newline");
    let pid: i64 = text.parse().unwrap();
    let s = env.state(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["pid"], pid);
    assert_eq!(s["id"], id.as_str());
    // Still palisade's waiting process, not sleep, and not our child's helper:
    // its parent is the init of this test's pid namespace or a subreaper.
    assert_ne!(exe_of(pid).unwrap(), Path::new("/bin/busybox"));
    // The absolute cgroupsPath lost its '/': the pids limit is in the kernel.
    let pids_max = format!("/sys/fs/cgroup/pids/{cg}/pids.max");
    let unified = format!("/sys/fs/cgroup/{cg}/pids.max");
    let limit = std::fs::read_to_string(&pids_max)
        .or_else(|_| std::fs::read_to_string(&unified))
        .unwrap();
    assert_eq!(limit.trim(), "17");

    let out = env.cmd(&["start", &id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert_eq!(env.state(&id)["status"], "running");
    wait_for("sleep to exec", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    // A second start is refused, naming the state.
    let out = env.cmd(&["start", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));

    // exec sees the container's hostname; its exit code comes back.
    let out = env.cmd(&["exec", &id, "/bin/sh", "-c", "hostname; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "exec: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "oci-life");
    let out = env.cmd(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid]);

    // pause / resume: the freezer state in the kernel.
    assert!(env.cmd(&["pause", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "paused");
    assert!(env.cmd(&["resume", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "running");

    // delete without --force refuses a running container.
    let out = env.cmd(&["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not stopped"), "{}", stderr(&out));

    let out = env.cmd(&["kill", &id, "SIGKILL"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    wait_for("stopped", || env.state(&id)["status"] == "stopped");
    let out = env.cmd(&["kill", &id, "KILL"]);
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
    let out = env.cmd(&["delete", &id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    assert!(!Path::new(&pids_max).exists() && !Path::new(&unified).exists());
    let out = env.cmd(&["state", &id]);
    assert!(stderr(&out).contains(&format!("container {id} does not exist")));
}

#[test]
fn refused_fields_are_named_and_nothing_is_left() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-refuse");
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 5] = [
        ("linux.intelRdt", |v| {
            v["linux"]["intelRdt"] = json!({"closID": "palisade"})
        }),
        ("ociVersion", |v| v["ociVersion"] = json!("2.0.0")),
        ("linux.cgroupsPath", |v| {
            v["linux"]["cgroupsPath"] = json!("/a/../../etc")
        }),
        ("process.terminal", |v| {
            v["process"]["terminal"] = json!(true)
        }),
        (
            "mounts[0].type",
            |v| v["mounts"] = json!([{"destination": "/x", "type": "nfs", "source": "h:/x"}]),
        ),
    ];
    for (field, edit) in cases {
        let b = env.bundle("b", &["/bin/true"], edit);
        let log = env.dir.path().join("log.json");
        let id = unique_name("refuse");
        let out = Command::new(BIN)
            .arg("--root")
            .arg(env.root())
            .args(["--log", log.to_str().unwrap(), "--log-format", "json"])
            .args(["create", "--bundle", b.to_str().unwrap(), &id])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{field} accepted");
        assert!(stderr(&out).contains(field), "{field}: {}", stderr(&out));
        // containerd's shim reads the last JSON line of the log.
        let text = std::fs::read_to_string(&log).unwrap();
        let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(line["level"], "error");
        assert!(line["msg"].as_str().unwrap().contains(field));
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
        assert!(!env.root().join(&id).exists(), "{field}: state left");
        std::fs::remove_file(b.join("config.json")).unwrap();
        std::fs::remove_file(log).unwrap();
    }
    // --systemd-cgroup is a driver choice now (oci/tests/systemd.rs), no
    // longer refused: commands that make no group run as without it.
    let out = env.cmd(&["--systemd-cgroup", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn kill_takes_runc_signal_spellings() {
    for (s, n) in [
        ("TERM", 15),
        ("SIGTERM", 15),
        ("sigusr1", 10),
        ("9", 9),
        ("RTMIN+1", 35),
    ] {
        assert_eq!(palisade_oci::signal::parse(s), Some(n), "{s}");
    }
    for bad in ["0", "65", "SIGFOO", "", "RTMIN+99"] {
        assert_eq!(palisade_oci::signal::parse(bad), None, "{bad}");
    }
}

#[test]
fn features_and_version() {
    let out = Command::new(BIN).arg("features").output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.2.0");
    assert_eq!(v["linux"]["cgroup"]["systemd"], true);
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("spec: 1.2.0"));
}

/// Runs `script` in a container of a bundle edited by `edit`; its stdout.
fn run_script(env: &Env, script: &str, edit: impl FnOnce(&mut Value)) -> (Option<i32>, String) {
    let b = env.bundle("s", &["/bin/sh", "-c", script], edit);
    let id = unique_name("script");
    let out = env.cmd(&["run", "--bundle", b.to_str().unwrap(), &id]);
    std::fs::remove_file(b.join("config.json")).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.code().is_some(),
        "{script}: killed: {}",
        stderr(&out)
    );
    (out.status.code(), text)
}

#[test]
fn config_fields_reach_the_kernel_exactly() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-exact");
    // No linux.seccomp: no filter at all (not palisade's Docker default).
    let (_, out) = run_script(&env, "grep Seccomp: /proc/self/status", |_| {});
    assert_eq!(out, "Seccomp:\t0");
    // A profile: the filter is installed and its rule holds.
    let (code, out) = run_script(
        &env,
        "grep Seccomp: /proc/self/status; mkdir /tmp/x-$$",
        |v| {
            v["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
            })
        },
    );
    assert_eq!(out, "Seccomp:\t2");
    assert_ne!(code, Some(0), "mkdir allowed under the profile");
    // maskedPaths / readonlyPaths exactly as listed: none → Docker's
    // /proc/timer_list (present on this kernel) reads in full; listed →
    // it reads empty (masked by /dev/null).
    let probe = "head -c 10 /proc/timer_list | wc -c";
    assert!(Path::new("/proc/timer_list").exists());
    let (_, out) = run_script(&env, probe, |v| {
        v["linux"]["maskedPaths"] = json!([]);
        v["linux"]["readonlyPaths"] = json!([]);
    });
    assert_eq!(
        out, "10",
        "/proc/timer_list masked though maskedPaths is empty"
    );
    let (_, out) = run_script(&env, probe, |v| {
        v["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    });
    assert_eq!(out, "0", "/proc/timer_list not masked");
    // env exactly as given; cwd; user; hostname; umask; read-only root.
    let (_, out) = run_script(
        &env,
        "echo \"$(env | sort | tr '\\n' ' ')|$(pwd)|$(id -u):$(id -g)|$(hostname)|$(umask)\"",
        |v| {
            v["process"]["env"] = json!(["A=1", "B=two words"]);
            v["process"]["cwd"] = json!("/tmp");
            v["process"]["user"] = json!({"uid": 1234, "gid": 4321, "umask": 23});
            v["hostname"] = json!("exact");
            // Ambient capabilities are refused for a uid other than 0.
            v["process"]["capabilities"]["ambient"] = json!([]);
        },
    );
    assert!(
        out.starts_with("A=1 B=two words ") && out.ends_with("|/tmp|1234:4321|exact|0027"),
        "{out}"
    );
    let (code, _) = run_script(&env, "touch /oci-ro-probe", |v| {
        v["root"]["readonly"] = json!(true);
    });
    assert_ne!(code, Some(0), "wrote to a read-only root");
    assert!(!busybox_rootfs().join("oci-ro-probe").exists());
}

#[test]
fn hooks_run_at_their_points_with_the_state_on_stdin() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-hooks");
    let marks = env.dir.subdir("marks");
    let hook = |name: &str| {
        json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}", marks.display())],
            "env": ["PATH=/usr/bin:/bin"],
            "timeout": 10
        }])
    };
    let b = env.bundle("b", &["/bin/sleep", "60"], |v| {
        v["hooks"] = json!({
            "createRuntime": hook("createRuntime"),
            "poststart": hook("poststart"),
            "poststop": hook("poststop"),
        });
    });
    let id = unique_name("hooks");
    let _guard = Guard {
        env: &env,
        id: id.clone(),
    };
    let out = env.cmd_detached(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let read = |name: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(marks.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")),
        )
        .unwrap()
    };
    let s = read("createRuntime");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["bundle"], b.to_str().unwrap());
    assert!(!marks.join("poststart").exists(), "poststart before start");
    assert!(env.cmd(&["start", &id]).status.success());
    assert_eq!(read("poststart")["status"], "running");
    assert!(!marks.join("poststop").exists());
    let out = env.cmd(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    let s = read("poststop");
    assert_eq!(
        (s["id"].as_str(), s["status"].as_str()),
        (Some(id.as_str()), Some("stopped"))
    );
    // A failing createRuntime hook fails create, naming the hook, and
    // leaves nothing.
    std::fs::remove_file(b.join("config.json")).unwrap();
    let b = env.bundle("b", &["/bin/true"], |v| {
        v["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let id = unique_name("hookfail");
    let out = env.cmd_detached(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/bin/false"), "{}", stderr(&out));
    assert!(!env.root().join(&id).exists());
}

#[test]
fn preserve_fds_hands_the_callers_fds_to_the_program() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-fds");
    let b = env.bundle("b", &["/bin/sh", "-c", "cat <&3; cat <&4"], |_| {});
    let (f3, f4) = (env.dir.path().join("three"), env.dir.path().join("four"));
    std::fs::write(&f3, "fd-three ").unwrap();
    std::fs::write(&f4, "fd-four").unwrap();
    let id = unique_name("fds");
    // The host shell opens 3 and 4, as a shim or systemd passes them.
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec 3<'{}' 4<'{}'; exec '{BIN}' --root '{}' run --preserve-fds 2 --bundle '{}' {id}",
            f3.display(),
            f4.display(),
            env.root().display(),
            b.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fd-three fd-four");
    // Without --preserve-fds, fd 3 is closed in the container.
    let id = unique_name("fds");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec 3<'{}'; exec '{BIN}' --root '{}' run --bundle '{}' {id}",
            f3.display(),
            env.root().display(),
            b.display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("fd-three"));
}

/// The host's view of a container's mount namespace, from a forked
/// process that setns'd into it: whether `path` exists there, and
/// whether `/proc` there is a mount point.
fn seen_in_mount_ns(pid: i64, path: &Path) -> (bool, bool) {
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
    let path = path.to_owned();
    palisade_testkit::fork_run(move || {
        // SAFETY: setns in the forked single-threaded child.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            panic!("setns: {}", std::io::Error::last_os_error());
        }
        // A mount point has a device of its own (a filesystem type would
        // mislead where the host's tree is a 9p share, as in the guest).
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &str| std::fs::metadata(p).map(|m| m.dev()).unwrap_or(0);
        let proc_there = dev("/proc") != dev("/");
        (path.exists(), proc_there)
    })
    .unwrap()
}

#[test]
fn no_pivot_moves_the_root_and_detaches_the_hosts_mounts() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-nopivot");
    let marker = env.dir.path().join("host-marker");
    std::fs::write(&marker, "host").unwrap();
    // Inside: the image as /, `..` stays there, no host file reachable.
    let b = env.bundle(
        "b",
        &[
            "/bin/sh",
            "-c",
            &format!(
                "awk '$5 == \"/\" {{ print \"root\" }}' /proc/self/mountinfo; \
                 cd /..; cd ../..; echo pwd $(pwd); \
                 test -e /..{m} || test -e {m} || echo unreached",
                m = marker.display()
            ),
        ],
        |_| {},
    );
    let id = unique_name("nopivot");
    let out = env.cmd(&["run", "--no-pivot", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "root\npwd /\nunreached\n"
    );
    // The move, seen from the host: once the container (CAP_SYS_ADMIN, as
    // the trade-off needs) unmounts its `/`, what is beneath in its mount
    // namespace is the old root — the host's — with its /proc detached.
    std::fs::remove_file(b.join("config.json")).unwrap();
    // A root of its own next to the marker: what stays beneath is the
    // rootfs's ancestors (a /tmp mount too, where /tmp is one), the rest of
    // the host's mounts are detached.
    let root = env.dir.path().join("rootfs");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(busybox_rootfs())
        .arg(&root)
        .status()
        .unwrap();
    assert!(cp.success());
    let b = env.bundle(
        "b",
        &["/bin/sh", "-c", "umount -l / && exec sleep 60"],
        |v| {
            v["root"]["path"] = json!(root);
            for set in [
                "bounding",
                "effective",
                "permitted",
                "inheritable",
                "ambient",
            ] {
                v["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN"]);
            }
        },
    );
    let id = unique_name("nopivot");
    let _guard = Guard {
        env: &env,
        id: id.clone(),
    };
    let out = env.cmd_detached(&[
        "run",
        "-d",
        "--no-pivot",
        "--bundle",
        b.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = env.state(&id)["pid"].as_i64().unwrap();
    // Up to 20 s: the guest lane's emulated CPU is slow.
    let mut seen = (false, true);
    for _ in 0..200 {
        seen = seen_in_mount_ns(pid, &marker);
        if seen.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        seen.0,
        "the container's / was not unmounted (or the marker's filesystem was detached)"
    );
    assert!(!seen.1, "the host's /proc is still mounted beneath");
}

#[test]
fn no_new_keyring_keeps_the_callers_session_keyring() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-keyring");
    let src = env.dir.path().join("keyid.c");
    let bin = env.dir.path().join("keyid");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
         int main(void) { printf(\"%ld\\n\", syscall(SYS_keyctl, 0, -3, 0)); return 0; }\n",
    )
    .unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let b = env.bundle("b", &["/keyid"], |v| {
        v["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/keyid", "type": "bind",
                         "source": bin, "options": ["bind", "ro"]}));
    });
    let run = |flags: &[&str]| -> i64 {
        let id = unique_name("keyring");
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend(["--bundle", b.to_str().unwrap(), &id]);
        let out = env.cmd(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    // Each run's palisade-oci inherits this test thread's session keyring:
    // kept, it is the same every time; by default each container joins
    // one of its own.
    let (a, b2) = (run(&[]), run(&[]));
    let (c, d) = (run(&["--no-new-keyring"]), run(&["--no-new-keyring"]));
    assert!(a > 0 && b2 > 0 && a != b2, "new keyrings {a} {b2}");
    assert_eq!(c, d, "--no-new-keyring keeps the caller's");
    assert!(c != a && c != b2, "{c} vs {a} {b2}");
}

#[test]
fn exec_preserve_fds_hands_the_callers_fds_to_the_process() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-exec-fds");
    let b = env.bundle("b", &["/bin/sleep", "60"], |_| {});
    let id = unique_name("execfds");
    let _guard = Guard {
        env: &env,
        id: id.clone(),
    };
    let out = env.cmd_detached(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = env.dir.path().join("shared");
    std::fs::write(&file, "0123456789\n").unwrap();
    // The host shell opens fd 3 read-write, as a caller passes it; the
    // process reads the file through /proc/self/fd/3 and writes through
    // the fd itself (at its offset 0). The read is taken in full before
    // the write: busybox cat sendfile()s into the stdout pipe, whose
    // buffers then still point at the file's page-cache pages, so a later
    // write to the file showed through (seen as "XY2345…", 1 run in 5).
    let exec = |flags: &str| {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "exec 3<>'{}'; exec '{BIN}' --root '{}' exec {flags} {id} \
                 /bin/sh -c 'x=$(cat /proc/self/fd/3) && echo $x && printf XY >&3'",
                file.display(),
                env.root().display(),
            ))
            .output()
            .unwrap()
    };
    let out = exec("--preserve-fds 1");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0123456789\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "XY23456789\n");
    // Without the flag, fd 3 is closed in the process.
    let out = exec("");
    assert!(!out.status.success(), "fd 3 reached the process unasked");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "XY23456789\n");
    // Asking for an fd the caller does not have is a clear error.
    let out = Command::new(BIN)
        .arg("--root")
        .arg(env.root())
        .args(["exec", "--preserve-fds", "40", &id, "/bin/true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not open"), "{}", stderr(&out));
}

#[test]
fn foreground_run_forwards_signals_to_the_container() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    use std::io::BufRead;
    let env = Env::new("oci-sigfwd");
    for (name, sig, code) in [
        ("TERM", libc::SIGTERM, 42),
        ("INT", libc::SIGINT, 43),
        ("USR2", libc::SIGUSR2, 44),
    ] {
        // The first process (pid 1: signals without a handler would be
        // ignored) traps the signal and exits with its own code.
        let script = format!("trap 'exit {code}' {name}; echo ready; while :; do sleep 0.05; done");
        let b = env.bundle("b", &["/bin/sh", "-c", &script], |_| {});
        let id = unique_name("sigfwd");
        let _guard = Guard {
            env: &env,
            id: id.clone(),
        };
        let mut run = Command::new(BIN)
            .arg("--root")
            .arg(env.root())
            .args(["run", "--bundle", b.to_str().unwrap(), &id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(run.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        // SAFETY: kill with integer arguments, to our own child.
        assert_eq!(unsafe { libc::kill(run.id() as i32, sig) }, 0);
        let status = run.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{name}: {status:?}");
        assert!(!env.root().join(&id).exists(), "state left for {id}");
        std::fs::remove_file(b.join("config.json")).unwrap();
    }
}
