//! `palisade-oci --systemd-cgroup` (issue 23): `linux.cgroupsPath` in
//! runc's `slice:prefix:name` form, the container's group a transient
//! systemd scope. Without systemd (this host) `create` is a typed error
//! naming systemd that leaves no state, process or group; where systemd is
//! PID 1 (the guest lane's systemd mode, `PALISADE_VM_SYSTEMD=1`) the
//! container's init runs in `prefix-name.scope` under the slice, read back
//! from `/proc/<pid>/cgroup` and `systemctl show`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use palisade_testkit::{TempDir, busybox_rootfs, require_root, unique_name};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_palisade-oci");

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

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

    /// A busybox bundle running `args` with `cgroupsPath` = `cgroups_path`.
    fn bundle(&self, args: &[&str], cgroups_path: &str) -> PathBuf {
        let b = self.dir.subdir("b");
        std::fs::create_dir_all(&b).unwrap();
        let _ = std::fs::remove_file(b.join("config.json"));
        let out = self.cmd(&["spec", "--bundle", b.to_str().unwrap()], false);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = b.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["root"]["path"] = json!(busybox_rootfs());
        v["process"]["args"] = json!(args);
        v["linux"]["cgroupsPath"] = json!(cgroups_path);
        std::fs::write(&path, v.to_string()).unwrap();
        b
    }

    /// `palisade-oci --root STATE [--systemd-cgroup] ARGS`; stdio are
    /// files, so a detached container holds no pipe `output()` waits on.
    fn cmd(&self, args: &[&str], systemd: bool) -> Output {
        let err = self.dir.path().join("cmd.err");
        let out = self.dir.path().join("cmd.out");
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root());
        if systemd {
            c.arg("--systemd-cgroup");
        }
        let status = c
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(&out).unwrap(),
            stderr: std::fs::read(&err).unwrap(),
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `delete --force` when the test ends, even by a panic.
struct Guard<'a> {
    env: &'a Env,
    id: String,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.env.cmd(&["delete", "--force", &self.id], true);
    }
}

#[test]
fn features_report_the_systemd_driver() {
    let env = Env::new("oci-sdfeat");
    let out = env.cmd(&["features"], false);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["linux"]["cgroup"]["systemd"], json!(true), "{v}");
    assert_eq!(v["linux"]["cgroup"]["systemdUser"], json!(true), "{v}");
}

/// Names the driver cannot use are refused by `create` before anything is
/// made, naming the bad value; without `--systemd-cgroup` a systemd name is
/// refused as before.
#[test]
fn malformed_systemd_paths_are_refused_and_leave_no_state() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-sdbad");
    for (systemd, path, says) in [
        (true, "/palisade/abc", "slice:prefix:name"),
        (true, "system.slice:palisade", "slice:prefix:name"),
        (true, "system:palisade:abc", ".slice"),
        (true, "system.slice:pal isade:abc", "A-Z a-z 0-9"),
        (false, "system.slice:palisade:abc", "--systemd-cgroup"),
    ] {
        let b = env.bundle(&["/bin/true"], path);
        let id = unique_name("sdbad");
        let out = env.cmd(&["create", "--bundle", b.to_str().unwrap(), &id], systemd);
        let err = stderr(&out);
        assert!(!out.status.success(), "{path}: {err}");
        assert!(err.contains("linux.cgroupsPath"), "{path}: {err}");
        assert!(err.contains(path), "{path}: {err}");
        assert!(err.contains(says), "{path}: {err}");
        assert!(!env.root().join(&id).exists(), "state left for {id}");
    }
}

/// Without systemd: a typed error naming systemd, and nothing left (no
/// state directory, no process, no group).
#[test]
fn without_systemd_create_is_a_typed_error_and_leaves_nothing() {
    let Some(root) = require_root("creates containers") else {
        return;
    };
    if systemd_running() {
        eprintln!("SKIP: systemd is PID 1 here; a_container_in_its_scope covers the driver");
        return;
    }
    let env = Env::new("oci-nosd");
    let id = unique_name("nosd");
    let b = env.bundle(
        &["/bin/sleep", "60"],
        &format!("system.slice:palisade:{id}"),
    );
    let (_root, out) =
        root.assert_no_leaks(|| env.cmd(&["create", "--bundle", b.to_str().unwrap(), &id], true));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the systemd cgroup driver is unavailable"),
        "{err}"
    );
    assert!(err.contains("/run/systemd/system"), "{err}");
    assert!(!env.root().join(&id).exists(), "state left for {id}");
    // The state root holds nothing else either.
    let left: Vec<_> = std::fs::read_dir(env.root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state root holds {left:?}");
}

/// `systemctl show -p PROP --value UNIT`.
fn show(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", unit, "-p", prop, "--value"])
        .output()
        .unwrap();
    assert!(out.status.success(), "systemctl show {unit}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Where systemd is PID 1: `create` puts the init in `palisade-ID.scope`
/// under the slice, systemd reports the scope with the spec's limit, and
/// `delete --force` leaves no unit and no directory.
#[test]
fn a_container_in_its_scope() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    if !systemd_running() {
        assert!(
            std::env::var_os("PALISADE_VM_SYSTEMD").is_none(),
            "PALISADE_VM_SYSTEMD is set but systemd is not PID 1"
        );
        eprintln!("SKIP: systemd is not PID 1 (the guest lane's systemd mode runs this)");
        return;
    }
    let env = Env::new("oci-sd");
    let id = unique_name("sd");
    let unit = format!("palisade-{id}.scope");
    let b = env.bundle(
        &["/bin/sleep", "600"],
        &format!("system.slice:palisade:{id}"),
    );
    // A memory limit in the spec: systemd must report it as MemoryMax.
    let path = b.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["linux"]["resources"]["memory"] = json!({ "limit": 64u64 << 20 });
    std::fs::write(&path, v.to_string()).unwrap();
    let _guard = Guard {
        env: &env,
        id: id.clone(),
    };
    let out = env.cmd(&["run", "-d", "--bundle", b.to_str().unwrap(), &id], true);
    assert!(out.status.success(), "{}", stderr(&out));
    let state = env.cmd(&["state", &id], true);
    assert!(state.status.success(), "{}", stderr(&state));
    let state: Value = serde_json::from_slice(&state.stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    // The kernel's view: the init is in the scope under the slice.
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cgroup.trim(), format!("0::/system.slice/{unit}"));
    // systemd's view.
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "MemoryMax"), (64u64 << 20).to_string());
    let dir = Path::new("/sys/fs/cgroup/system.slice").join(&unit);
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max"))
            .unwrap()
            .trim(),
        (64u64 << 20).to_string()
    );
    // delete: no unit, no directory.
    let out = env.cmd(&["delete", "--force", &id], true);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut gone = false;
    for _ in 0..100 {
        let listed = Command::new("systemctl")
            .args(["list-units", "--all", "--plain", "--no-legend", &unit])
            .output()
            .unwrap();
        if listed.stdout.is_empty() && !dir.exists() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gone, "{unit} or {} left after delete", dir.display());
    assert!(!env.root().join(&id).exists());
}
