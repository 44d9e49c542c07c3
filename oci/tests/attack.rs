//! Outsider attacks on `palisade-oci` through bad bundles: odd
//! `cgroupsPath`s (among them one naming a group that already holds a host
//! process), container ids that walk out of `--root`, huge and negative
//! values, mount destinations through image links, and two runs racing
//! for one id. Every refusal must be a clear error (never a panic) that
//! leaves nothing: no state entry, no cgroup, no mount. Root, real kernel.

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

    /// A bundle on `rootfs` running `args`, in a top-level group of its own.
    fn bundle(
        &self,
        name: &str,
        rootfs: &Path,
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let b = self.dir.subdir(name);
        std::fs::create_dir_all(&b).unwrap();
        let _ = std::fs::remove_file(b.join("config.json"));
        let out = self.cmd(&["spec", "--bundle", b.to_str().unwrap()]);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = b.join("config.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["root"]["path"] = json!(rootfs);
        v["process"]["args"] = json!(args);
        v["process"]["terminal"] = json!(false);
        v["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("oci-atk")));
        edit(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
        b
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// `run` of the bundle as `id` with its outcome; a run that got as far
    /// as a container is deleted (`--force`) whatever it returned.
    fn run(&self, b: &Path, id: &str) -> Output {
        let out = self.cmd(&["run", "--bundle", b.to_str().unwrap(), id]);
        let _ = self.cmd(&["delete", "--force", id]);
        out
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Mounts, cgroup directories and state entries that mention `needle`.
fn leftovers(env: &Env, needles: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mountinfo.lines() {
        if needles.iter().any(|n| l.contains(n)) {
            left.push(format!("mount: {l}"));
        }
    }
    let hierarchy = palisade::cgroup::Hierarchy::detect().unwrap();
    let roots = hierarchy
        .v1_mounts()
        .iter()
        .map(|(_, r)| r.clone())
        .chain(hierarchy.unified().map(Path::to_owned));
    for r in roots {
        for e in std::fs::read_dir(&r).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if needles.iter().any(|x| n.contains(x)) {
                left.push(format!("cgroup: {}", e.path().display()));
            }
        }
    }
    for e in std::fs::read_dir(env.root())
        .into_iter()
        .flatten()
        .flatten()
    {
        left.push(format!("state: {}", e.path().display()));
    }
    left
}

/// The refusal is an error naming `field`, not a panic, and leaves nothing.
fn assert_refused(env: &Env, out: &Output, field: &str, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "{field}: accepted");
    assert_ne!(out.status.code(), Some(101), "{field}: panicked: {err}");
    assert!(!err.contains("panicked"), "{field}: panicked: {err}");
    assert!(err.contains(field), "{field} not named: {err}");
    let left = leftovers(env, needles);
    assert!(left.is_empty(), "{field}: left behind: {left:?}");
}

#[test]
fn odd_cgroup_paths_are_refused_naming_the_field_and_leave_nothing() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-atk-cg");
    let tag = unique_name("cgatk");
    let long = format!("/{tag}/{}", "x".repeat(5000));
    let cases = [
        "..".to_owned(),
        "/..".to_owned(),
        format!("/{tag}/../../etc"),
        format!("{tag}/./x"),
        format!("/{tag}//x"),
        format!("/{tag}/x\0y"),
        format!("/{tag}/x\ny"),
        format!("system.slice:{tag}:x"),
        long,
    ];
    for path in cases {
        let b = env.bundle("b", busybox_rootfs(), &["/bin/true"], |v| {
            v["linux"]["cgroupsPath"] = json!(path)
        });
        let out = env.run(&b, &unique_name("cg"));
        let field = if path.len() > 1000 || path.contains(['\0', '\n']) {
            // Too long for a directory name (the kernel's ENAMETOOLONG), or
            // a NUL or newline (the cgroup crate's check): named as the
            // cgroup path at the cgroup step.
            "cgroup"
        } else {
            "cgroupsPath"
        };
        assert_refused(&env, &out, field, &[&tag]);
    }
}

/// A `cgroupsPath` naming a group that holds a host process: refused, the
/// process lives on in its group. Before the fix the container joined the
/// group and, at exit, palisade deleted it — killing the host process.
#[test]
fn a_cgroups_path_naming_a_populated_host_group_kills_nothing() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let env = Env::new("oci-atk-victim");
    let hierarchy = palisade::cgroup::Hierarchy::detect().unwrap();
    let name = unique_name("oci-victim");
    let mut roots: Vec<PathBuf> = hierarchy
        .v1_mounts()
        .iter()
        .map(|(_, r)| r.clone())
        .chain(hierarchy.unified().map(Path::to_owned))
        .collect();
    roots.sort();
    roots.dedup();
    struct Cleanup(Vec<PathBuf>, std::process::Child);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.1.kill();
            let _ = self.1.wait();
            for d in &self.0 {
                for _ in 0..50 {
                    if std::fs::remove_dir(d).is_ok() || !d.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }
    let victim = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = victim.id();
    let dirs: Vec<PathBuf> = roots.iter().map(|r| r.join(&name)).collect();
    let _cleanup = Cleanup(dirs.clone(), victim);
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if d.join(f).exists() {
                let v = std::fs::read_to_string(d.parent().unwrap().join(f)).unwrap();
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
        std::fs::write(d.join("cgroup.procs"), pid.to_string()).unwrap();
    }
    let b = env.bundle("b", busybox_rootfs(), &["/bin/true"], |v| {
        v["linux"]["cgroupsPath"] = json!(format!("/{name}"))
    });
    let out = env.run(&b, &unique_name("victim"));
    let err = stderr(&out);
    assert!(!out.status.success(), "a populated host group was used");
    assert!(err.contains("already holds processes"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("the victim was killed");
    assert!(
        cg.lines()
            .filter(|l| !l.contains(":name="))
            .all(|l| l.ends_with(&name)),
        "{cg}"
    );
    assert!(
        dirs.iter().all(|d| d.exists()),
        "the victim's group was removed"
    );
    assert!(leftovers(&env, &["\u{1}"]).is_empty());
}

#[test]
fn ids_that_walk_out_of_the_root_are_refused_and_create_nothing() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-atk-id");
    std::fs::create_dir_all(env.root()).unwrap();
    let b = env.bundle("b", busybox_rootfs(), &["/bin/true"], |_| {});
    let before: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let long = "a".repeat(2000);
    for id in [
        "..",
        ".",
        "../escape",
        "a/b",
        "/tmp/x",
        "x\ny",
        "",
        &long,
        "-x",
        "é",
    ] {
        for verb in [
            &["run", "--bundle", b.to_str().unwrap(), id][..],
            &["state", id],
            &["delete", "--force", id],
            &["kill", id, "KILL"],
        ] {
            let out = env.cmd(verb);
            let err = stderr(&out);
            assert!(!out.status.success(), "{verb:?} accepted {id:?}");
            assert_ne!(
                out.status.code(),
                Some(101),
                "{verb:?} {id:?} panicked: {err}"
            );
            assert!(!err.contains("panicked"), "{verb:?} {id:?}: {err}");
        }
    }
    let after: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "entries made beside the root");
    assert!(
        leftovers(&env, &[]).is_empty(),
        "{:?}",
        leftovers(&env, &[])
    );
    assert!(!Path::new("/tmp/escape").exists() || std::fs::metadata("/tmp/escape").is_ok());
}

#[test]
fn huge_and_negative_values_get_an_error_or_run_never_a_panic() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-atk-values");
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 12] = [
        ("memory.limit -2", |v| {
            v["linux"]["resources"]["memory"] = json!({"limit": -2})
        }),
        ("memory.limit max", |v| {
            v["linux"]["resources"]["memory"] = json!({"limit": i64::MAX})
        }),
        ("memory.swap -7", |v| {
            v["linux"]["resources"]["memory"] = json!({"limit": 1<<26, "swap": -7})
        }),
        ("pids.limit -5", |v| {
            v["linux"]["resources"]["pids"] = json!({"limit": -5})
        }),
        ("cpu.quota -5", |v| {
            v["linux"]["resources"]["cpu"] = json!({"quota": -5, "period": 100000})
        }),
        ("cpu.shares u64", |v| {
            v["linux"]["resources"]["cpu"] = json!({"shares": u64::MAX})
        }),
        ("cpu.period 0", |v| {
            v["linux"]["resources"]["cpu"] = json!({"quota": 1000, "period": 0})
        }),
        ("uid max", |v| {
            v["process"]["user"] = json!({"uid": u32::MAX, "gid": 0})
        }),
        ("uid negative", |v| {
            v["process"]["user"] = json!({"uid": -1, "gid": 0})
        }),
        ("oomScoreAdj", |v| {
            v["process"]["oomScoreAdj"] = json!(1_000_000)
        }),
        (
            "rlimit soft>hard",
            |v| {
                v["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 1024}])
            },
        ),
        ("blkio weight", |v| {
            v["linux"]["resources"]["blockIO"] = json!({"weight": 65535})
        }),
    ];
    for (what, edit) in cases {
        let tag = unique_name("val");
        let b = env.bundle("b", busybox_rootfs(), &["/bin/true"], |v| {
            edit(v);
            v["linux"]["cgroupsPath"] = json!(format!("/{tag}"));
        });
        let out = env.run(&b, &unique_name("v"));
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(101), "{what}: panicked: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        if !out.status.success() {
            assert!(!err.trim().is_empty(), "{what}: failed without a word");
            assert!(
                err.len() < 4096,
                "{what}: unbounded error ({} bytes)",
                err.len()
            );
        }
        let left = leftovers(&env, &[&tag]);
        assert!(left.is_empty(), "{what}: left behind: {left:?}");
    }
}

/// Mount destinations through links the image holds (to a host path, and
/// with `..` past the root) land inside the rootfs: nothing appears at the
/// host path, no host mount remains.
#[test]
fn mount_destinations_through_image_links_stay_inside() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-atk-mnt");
    let rootfs = env.dir.path().join("rootfs");
    let status = Command::new("cp")
        .args([
            "-a",
            busybox_rootfs().to_str().unwrap(),
            rootfs.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let host = PathBuf::from("/tmp").join(unique_name("oci-atk-host"));
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(host.clone());
    std::os::unix::fs::symlink(&host, rootfs.join("evil")).unwrap();
    let rel_up = format!("/../../../../..{}", host.display());
    let dests = ["/evil/x".to_owned(), "/evil".to_owned(), rel_up];
    for dest in dests {
        let b = env.bundle("b", &rootfs, &["/bin/true"], |v| {
            v["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
        });
        let out = env.run(&b, &unique_name("m"));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{dest}: {err}");
        assert!(
            std::fs::symlink_metadata(&host).is_err(),
            "{dest}: {} made on the host ({err})",
            host.display()
        );
        let left = leftovers(&env, &[rootfs.to_str().unwrap(), host.to_str().unwrap()]);
        assert!(left.is_empty(), "{dest}: left behind: {left:?}");
    }
}

/// Two runs racing for one id: one wins, the other is told the id exists
/// and leaves the winner's state alone.
#[test]
fn two_runs_racing_for_one_id_one_wins_cleanly() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let env = Env::new("oci-atk-race");
    let tag = unique_name("race");
    let b = env.bundle("b", busybox_rootfs(), &["/bin/sleep", "2"], |v| {
        v["linux"]["cgroupsPath"] = json!(format!("/{tag}"))
    });
    let id = unique_name("race");
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| env.cmd(&["run", "--bundle", b.to_str().unwrap(), &id])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let _ = env.cmd(&["delete", "--force", &id]);
    let ok = outs.iter().filter(|o| o.status.success()).count();
    let errs: Vec<String> = outs.iter().map(stderr).collect();
    assert_eq!(ok, 1, "{errs:?}");
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(stderr(loser).contains("already exists"), "{errs:?}");
    let left = leftovers(&env, &[&tag]);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `rootfsPropagation` "slave" or "private" (non-recursive: only `/`
/// stops sharing) never unmounts the host's mounts when the old root is
/// detached: host side, the leaf of a shared tree the test made is still
/// mounted after each run (with and without --no-pivot).
#[test]
fn non_recursive_rootfs_propagation_leaves_the_hosts_shared_mounts() {
    let Some(_root) = require_root("mounts") else {
        return;
    };
    let env = Env::new("oci-atk-prop");
    let top = env.dir.path().join("shared-top");
    let leaf = top.join("leaf");
    std::fs::create_dir_all(&top).unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount")
                .args(["-R", "-l", self.0.to_str().unwrap()])
                .status();
        }
    }
    let sh = |args: &[&str]| assert!(Command::new("mount").args(args).status().unwrap().success());
    sh(&["-t", "tmpfs", "atk-top", top.to_str().unwrap()]);
    let _unmount = Unmount(top.clone());
    sh(&["--make-shared", top.to_str().unwrap()]);
    std::fs::create_dir(&leaf).unwrap();
    sh(&["-t", "tmpfs", "atk-leaf", leaf.to_str().unwrap()]);
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == leaf.to_str())
    };
    assert!(mounted());
    for no_pivot in [false, true] {
        for prop in ["slave", "private"] {
            let b = env.bundle("b", busybox_rootfs(), &["/bin/true"], |v| {
                v["linux"]["rootfsPropagation"] = json!(prop)
            });
            let id = unique_name("prop");
            let mut args = vec!["run", "--bundle", b.to_str().unwrap()];
            if no_pivot {
                args.push("--no-pivot");
            }
            args.push(&id);
            let out = env.cmd(&args);
            let _ = env.cmd(&["delete", "--force", &id]);
            assert!(out.status.success(), "{prop}: {}", stderr(&out));
            assert!(
                mounted(),
                "{prop} (no_pivot {no_pivot}): the host's {} was unmounted",
                leaf.display()
            );
        }
    }
}
