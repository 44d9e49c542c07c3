//! Container network wiring — veth pair with the peer in the container's
//! netns, addresses on both ends, links up, default route — through
//! palisade beside the same steps with `ip` commands. Needs root.

use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_netlink::{Netlink, Route, Veth};

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("palisade-netlink benches need root; skipped");
        return;
    }
    // A named netns both contenders wire into (created with `ip netns`).
    let ns_name = format!("palisade-bench-{}", std::process::id());
    ip(&["netns", "add", &ns_name]);
    struct DelNs(String);
    impl Drop for DelNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _ns = DelNs(ns_name.clone());
    let netns = std::fs::File::open(format!("/run/netns/{ns_name}")).unwrap();
    let host = format!("pb{}", std::process::id() % 100_000);
    let mut g = c.benchmark_group("netlink_wiring");
    g.sample_size(20);
    let palisade_wire = || {
        let mut nl = Netlink::new().unwrap();
        nl.add_link(&Veth::new(&host, "eth0").peer_netns(netns.as_fd()).into())
            .unwrap();
        nl.add_address(&host, "10.233.0.1/24".parse().unwrap())
            .unwrap();
        nl.set_up(&host).unwrap();
        let mut inside = Netlink::in_namespace(&netns).unwrap();
        inside.loopback_up().unwrap();
        inside
            .add_address_with("eth0", "10.233.0.2/24".parse().unwrap(), true)
            .unwrap();
        inside.set_up("eth0").unwrap();
        inside
            .add_route(&Route::default_via("10.233.0.1".parse().unwrap()).dev("eth0"))
            .unwrap();
    };
    let ip_wire = || {
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns_name,
        ]);
        ip(&["addr", "add", "10.233.0.1/24", "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        ip(&["-n", &ns_name, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns_name,
            "addr",
            "add",
            "10.233.0.2/24",
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &ns_name, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &ns_name,
            "route",
            "add",
            "default",
            "via",
            "10.233.0.1",
            "dev",
            "eth0",
        ]);
    };
    let teardown = || Netlink::new().unwrap().delete_link(&host).unwrap();
    // Wiring is timed on its own: deleting a veth waits for an RCU grace
    // period in the kernel (milliseconds) whoever asks for it.
    g.bench_function("palisade/wire", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                palisade_wire();
                total += start.elapsed();
                teardown();
            }
            total
        })
    });
    g.bench_function("ip/wire", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                ip_wire();
                total += start.elapsed();
                teardown();
            }
            total
        })
    });
    g.bench_function("palisade/teardown", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                palisade_wire();
                let start = Instant::now();
                teardown();
                total += start.elapsed();
            }
            total
        })
    });
    g.bench_function("ip/teardown", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                palisade_wire();
                let start = Instant::now();
                ip(&["link", "del", &host]);
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
