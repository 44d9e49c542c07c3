//! `palisade-oci run` of `/bin/true` — the whole CLI invocation as a shim
//! makes it (process start, config.json parse, state dir, create, start,
//! wait, delete) — beside `crun run` of the same bundle settings (issue 22
//! target: ≤ 0.5× crun). Both get the shared busybox root, an absolute
//! cgroupsPath with the same memory and pids limits and a cgroup
//! namespace (the facade bench's `peers` module); crun's root is read-only,
//! palisade-oci's is not (not supported yet). Needs root; crun is measured
//! when installed (`PALISADE_BENCH=1 scripts/setup.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "../../benches/support/peers.rs"]
mod peers;

const BIN: &str = env!("CARGO_BIN_EXE_palisade-oci");
static SEQ: AtomicU64 = AtomicU64::new(0);

fn bundle(dir: &Path, cgroup: &str) -> PathBuf {
    let b = dir.join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let _ = std::fs::remove_file(b.join("config.json"));
    let ok = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(&b)
        .status()
        .unwrap();
    assert!(ok.success());
    let path = b.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["root"]["path"] = json!(palisade_testkit::busybox_rootfs());
    v["process"]["args"] = json!(["/bin/true"]);
    let linux = &mut v["linux"];
    linux["cgroupsPath"] = json!(cgroup);
    linux["resources"]["memory"] = json!({ "limit": peers::MEMORY_LIMIT });
    linux["resources"]["pids"] = json!({ "limit": peers::PIDS_LIMIT });
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({ "type": "cgroup" }));
        }
    }
    std::fs::write(&path, v.to_string()).unwrap();
    b
}

fn run(root: &Path, bundle: &Path) {
    let id = format!(
        "bench-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let st = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "palisade-oci run failed: {st}");
}

fn cli(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP palisade-oci bench: needs root");
        return;
    }
    let dir = palisade_testkit::TempDir::new("oci-bench");
    let cgroup = format!("/palisade-bench-oci-{}", std::process::id());
    let b = bundle(dir.path(), &cgroup);
    let root = dir.path().join("state");
    let crun = peers::OciRuntime::new("crun", palisade_testkit::busybox_rootfs(), dir.path())
        .expect("prepare crun bundle");
    let mut g = c.benchmark_group("oci_run_true");
    g.sample_size(30);
    g.bench_function("palisade_oci_run", |bench| bench.iter(|| run(&root, &b)));
    if let Some(crun) = &crun {
        g.bench_function("crun_run", |bench| bench.iter(|| crun.run_true()));
    }
    g.finish();
    for m in peers::cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(cgroup.trim_start_matches('/')));
    }
}

criterion_group!(benches, cli);
criterion_main!(benches);
