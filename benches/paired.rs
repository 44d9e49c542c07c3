//! Wrapper overhead, measured pair by pair: each palisade wrapper and the
//! same raw system calls run alternately (order swapped every round), and
//! the ratio of each round's two times is kept. The report is the **median
//! of the per-round ratios** with a bootstrap 95 % interval.
//!
//! Why beside criterion: on this 2-core VM the kernel's own cost of a
//! mount, a namespace or a cgroup migration drifts by 10–20 % between the
//! seconds in which criterion samples one function and then the other, so
//! two criterion medians can disagree by more than the 5 % a thin wrapper
//! is allowed. Pairing each call with its raw twin cancels that drift.
//!
//! `cargo bench --bench paired` (root needed; writes `target/paired.md`,
//! which `scripts/bench-report.sh` puts into BENCHMARKS.md). Under
//! `cargo test --benches` it makes a short smoke run.

use std::ffi::CString;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use palisade_cgroup::{Cgroup, Controller, Placement, Resources};
use palisade_netlink::{Netlink, VethWiring};
use palisade_ns::{Namespace, NsKind, NsKinds, unshare};
use palisade_overlay::{Overlay, Strategy};
use palisade_testkit::raw::{c_path, c_paths, overlay_layers, overlay_mount2, overlay_new_api};
use palisade_testkit::{NamedNetns, NsHolder, TempDir, fork_run, unique_name};

/// Per-round ratios ours/raw over `rounds` rounds (after a few warm-up
/// rounds), the order of the two calls swapped every round.
fn ratios(rounds: usize, mut ours: impl FnMut(), mut raw: impl FnMut()) -> Vec<f64> {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_nanos() as f64
    };
    for _ in 0..rounds.div_ceil(10) {
        ours();
        raw();
    }
    (0..rounds)
        .map(|i| {
            let (o, r) = if i % 2 == 0 {
                let o = time(&mut ours);
                (o, time(&mut raw))
            } else {
                let r = time(&mut raw);
                (time(&mut ours), r)
            };
            o / r
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median and a percentile-bootstrap 95 % interval of it (1000 resamples,
/// a fixed-seed xorshift so the report is reproducible for given data).
fn median_ci(ratios: &[f64]) -> (f64, f64, f64) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut medians: Vec<f64> = (0..1000)
        .map(|_| {
            let mut sample: Vec<f64> = (0..ratios.len())
                .map(|_| ratios[(next() % ratios.len() as u64) as usize])
                .collect();
            median(&mut sample)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let mut all = ratios.to_vec();
    (median(&mut all), medians[25], medians[974])
}

struct Report {
    rows: Vec<(String, usize, f64, f64, f64)>,
}

impl Report {
    fn add(&mut self, name: &str, ratios: Vec<f64>) {
        let n = ratios.len();
        let (m, lo, hi) = median_ci(&ratios);
        println!("{name:<32} {m:.3}× (95% CI {lo:.3}–{hi:.3}, {n} rounds)");
        self.rows.push((name.to_owned(), n, m, lo, hi));
    }
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("paired: needs root; skipped");
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 50 };
    let mut report = Report { rows: Vec::new() };

    // setns into another namespace and back.
    let target = NsHolder::new(libc::CLONE_NEWNET | libc::CLONE_NEWUTS);
    for kind in [NsKind::Net, NsKind::Uts] {
        let theirs = Namespace::of_pid(target.pid(), kind).unwrap();
        let home = Namespace::current(kind).unwrap();
        let (t, h, flag) = (
            theirs.as_fd().as_raw_fd(),
            home.as_fd().as_raw_fd(),
            kind.clone_flag(),
        );
        let r = ratios(
            20_000 / scale,
            || {
                theirs.enter().unwrap();
                home.enter().unwrap();
            },
            // SAFETY: setns on open nsfs fds.
            || unsafe {
                assert_eq!(libc::setns(black_box(t), flag), 0);
                assert_eq!(libc::setns(black_box(h), flag), 0);
            },
        );
        report.add(&format!("ns setns {kind} + back"), r);
    }
    drop(target);

    // unshare, in a forked child (each call makes a new namespace).
    for (name, kind, flag) in [
        ("uts", NsKinds::UTS, libc::CLONE_NEWUTS),
        ("mnt", NsKinds::MNT, libc::CLONE_NEWNS),
    ] {
        let rounds = 4000 / scale;
        let r: Vec<f64> = fork_run(move || {
            ratios(
                rounds,
                || unshare(black_box(kind)).unwrap(),
                // SAFETY: unshare with a flag mask.
                || assert_eq!(unsafe { libc::unshare(black_box(flag)) }, 0),
            )
        })
        .unwrap();
        report.add(&format!("ns unshare {name}"), r);
    }

    // A cgroup limit write.
    let cg = Cgroup::create(&unique_name("paired")).unwrap();
    let limit = Resources::new().memory_max(64 << 20);
    let file = match cg.hierarchy().placement(Controller::Memory).unwrap() {
        Placement::V2(_) => cg.v2_dir().unwrap().join("memory.max"),
        Placement::V1(_) => cg
            .v1_dir(Controller::Memory)
            .unwrap()
            .join("memory.limit_in_bytes"),
    };
    let r = ratios(
        20_000 / scale,
        || cg.apply(black_box(&limit)).unwrap(),
        || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .and_then(|mut f| f.write_all(black_box(b"67108864")))
                .unwrap()
        },
    );
    report.add("cgroup apply memory.max", r);
    cg.delete().unwrap();

    // Overlay mount + unmount.
    let tmp = TempDir::new("paired-ovl");
    let merged = tmp.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    let target = c_path(&merged);
    for (n, rounds) in [(2usize, 2000), (16, 1000), (500, 300)] {
        let lowers = overlay_layers(&tmp, n);
        let overlay = Overlay::builder().lowers(&lowers).build().unwrap();
        let c_lowers = c_paths(&lowers);
        let rounds = (rounds / scale).max(4);
        let r = ratios(
            rounds,
            || {
                overlay
                    .mount_with(black_box(&merged), Strategy::NewApi)
                    .unwrap()
                    .unmount()
                    .unwrap()
            },
            || overlay_new_api(black_box(&c_lowers), &target),
        );
        report.add(&format!("overlay new API, {n} lowers"), r);
        if n <= 16 {
            let data = CString::new(overlay.legacy_options()).unwrap();
            let r = ratios(
                rounds,
                || {
                    overlay
                        .mount_with(black_box(&merged), Strategy::Legacy)
                        .unwrap()
                        .unmount()
                        .unwrap()
                },
                || overlay_mount2(black_box(&data), &target),
            );
            report.add(&format!("overlay mount(2), {n} lowers"), r);
        }
    }

    // Container network wiring: palisade's one call against the same
    // seven steps as `ip` commands. Reported the other way round, as a
    // speedup (ip's time / palisade's, per round).
    let speedup = wiring_speedup_over_ip((200 / scale).max(3));
    let (m, lo, hi) = median_ci(&speedup);
    println!(
        "{:<32} {m:.1}× faster (95% CI {lo:.1}–{hi:.1}, {} rounds)",
        "netlink wiring vs ip",
        speedup.len()
    );

    // Container lifecycle (issue 20): create + start against spawn, and
    // exec into a running container against a whole spawn, of /bin/true
    // on the busybox rootfs.
    {
        let rootfs = palisade_testkit::busybox_rootfs();
        let spawn = || {
            let mut c = palisade::Container::new("/bin/true")
                .rootfs(rootfs)
                .spawn()
                .unwrap();
            assert!(c.wait().unwrap().success());
        };
        let r = ratios(
            200 / scale.min(20),
            || {
                let created = palisade::Container::new("/bin/true")
                    .rootfs(rootfs)
                    .create()
                    .unwrap();
                let mut c = created.start().unwrap();
                assert!(c.wait().unwrap().success());
            },
            spawn,
        );
        report.add("container create+start / spawn", r);
        let running = palisade::Container::new("/bin/sleep")
            .args(["3600"])
            .rootfs(rootfs)
            .spawn()
            .unwrap();
        let r = ratios(
            200 / scale.min(20),
            || {
                let mut c = running.exec(palisade::Exec::new("/bin/true")).unwrap();
                assert!(c.wait().unwrap().success());
            },
            spawn,
        );
        report.add("container exec / spawn", r);
        drop(running);
    }

    if full {
        let mut md = String::from(
            "## paired wrapper overhead (benches/paired.rs)\n\n\
             Each wrapper and its raw twin run alternately; the figure is the median of the \
             per-round ratios palisade/raw, with a bootstrap 95% interval.\n\n\
             | pair | rounds | median ratio | 95% CI |\n|---|---:|---:|---:|\n",
        );
        for (name, n, m, lo, hi) in &report.rows {
            let _ = writeln!(md, "| {name} | {n} | {m:.3}× | {lo:.3} – {hi:.3} |");
        }
        let _ = write!(
            md,
            "\nContainer network wiring (veth with its peer born in the netns as eth0, \
             addresses on both ends, links and lo up, default route): `Netlink::wire_veth` \
             against the same seven steps as `ip` commands, alternately, lo reset between \
             rounds. Median of the per-round speedups ip/palisade: **{m:.1}×** (95% CI \
             {lo:.1} – {hi:.1}, {} rounds).\n",
            speedup.len()
        );
        let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(dir)
            .join("paired.md");
        std::fs::write(&path, md).unwrap();
        println!("paired: wrote {}", path.display());
    }
}

/// Per-round ip/palisade time ratios of the container network wiring.
fn wiring_speedup_over_ip(rounds: usize) -> Vec<f64> {
    let ns = NamedNetns::new(&unique_name("paired-net"));
    let (ns_name, netns) = (ns.name(), ns.file());
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    let host = palisade_testkit::ifname("pw");
    let wiring = VethWiring::new(&host, "eth0")
        .host_address("10.234.0.1/24".parse().unwrap())
        .address("10.234.0.2/24".parse().unwrap())
        .gateway("10.234.0.1".parse().unwrap());
    let ours = || {
        Netlink::new()
            .unwrap()
            .wire_veth(&wiring, netns.as_fd())
            .unwrap()
    };
    let theirs = || {
        let n = ns_name;
        let h = host.as_str();
        ip(&[
            "link", "add", h, "type", "veth", "peer", "name", "eth0", "netns", n,
        ]);
        ip(&["addr", "add", "10.234.0.1/24", "dev", h]);
        ip(&["link", "set", h, "up"]);
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&["-n", n, "addr", "add", "10.234.0.2/24", "dev", "eth0"]);
        ip(&["-n", n, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            n,
            "route",
            "add",
            "default",
            "via",
            "10.234.0.1",
            "dev",
            "eth0",
        ]);
    };
    // Back to a fresh container's state: no pair, lo down (not timed).
    let reset = || {
        Netlink::new().unwrap().delete_link(&host).unwrap();
        Netlink::in_namespace(netns)
            .unwrap()
            .set_down("lo")
            .unwrap();
    };
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        let spent = t.elapsed().as_nanos() as f64;
        reset();
        spent
    };
    (0..rounds)
        .map(|i| {
            let (o, t) = if i % 2 == 0 {
                let o = time(&ours);
                (o, time(&theirs))
            } else {
                let t = time(&theirs);
                (time(&ours), t)
            };
            t / o
        })
        .collect()
}
