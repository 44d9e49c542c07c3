//! Container network wiring — veth pair with the peer in the container's
//! netns, addresses on both ends, links up, default route — through
//! palisade (`wire_veth`, and the step-by-step API) beside the same steps with `ip` commands and with the
//! `rtnetlink` crate (tokio, current-thread runtime; its socket in the
//! container's netns is opened with the bench thread briefly `setns`ed, the
//! cheapest way a user of it has). Teardown is timed separately, both ways:
//! deleting the host end, or dropping the namespace. Also: 100 veth pairs
//! created and deleted. Needs root.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::TryStreamExt;
use palisade_netlink::{Netlink, Route, Veth, VethWiring};
use palisade_testkit::NamedNetns;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// A runtime and a connection of the host's netns, as an rtnetlink user
/// keeps them.
struct Rt {
    rt: tokio::runtime::Runtime,
}

impl Rt {
    fn new() -> Rt {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        Rt { rt }
    }

    /// A connection whose socket lives in `netns` (or here).
    fn connect(&self, netns: Option<&File>) -> Handle {
        let _guard = self.rt.enter();
        let open = || {
            let (conn, handle, _) = rtnetlink::new_connection().unwrap();
            tokio::spawn(conn);
            handle
        };
        match netns {
            None => open(),
            Some(ns) => {
                let home = File::open("/proc/thread-self/ns/net").unwrap();
                // SAFETY: setns on the bench thread, undone right below.
                assert_eq!(
                    unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                    0
                );
                let handle = open();
                // SAFETY: back to the thread's own namespace.
                assert_eq!(
                    unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) },
                    0
                );
                handle
            }
        }
    }

    fn wire(&self, host: &str, netns: &File) {
        let outside = self.connect(None);
        let inside = self.connect(Some(netns));
        self.rt.block_on(async {
            let peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name("eth0".to_owned())
                .setns_by_fd(netns.as_raw_fd())
                .build();
            let veth = LinkVeth::new(host, "eth0")
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build();
            outside.link().add(veth).execute().await.unwrap();
            let idx = index_of(&outside, host).await;
            outside
                .address()
                .add(idx, "10.233.0.1".parse().unwrap(), 24)
                .execute()
                .await
                .unwrap();
            outside
                .link()
                .set(LinkUnspec::new_with_index(idx).up().build())
                .execute()
                .await
                .unwrap();
            inside
                .link()
                .set(LinkUnspec::new_with_index(1).up().build())
                .execute()
                .await
                .unwrap();
            let eth0 = index_of(&inside, "eth0").await;
            inside
                .address()
                .add(eth0, "10.233.0.2".parse().unwrap(), 24)
                .execute()
                .await
                .unwrap();
            inside
                .link()
                .set(LinkUnspec::new_with_index(eth0).up().build())
                .execute()
                .await
                .unwrap();
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(Ipv4Addr::new(10, 233, 0, 1))
                .output_interface(eth0)
                .build();
            inside.route().add(route).execute().await.unwrap();
        });
    }

    fn veth_pairs(&self, names: &[(String, String)]) {
        let handle = self.connect(None);
        self.rt.block_on(async {
            for (a, b) in names {
                handle
                    .link()
                    .add(LinkVeth::new(a, b).build())
                    .execute()
                    .await
                    .unwrap();
            }
            for (a, _) in names {
                let idx = index_of(&handle, a).await;
                handle.link().del(idx).execute().await.unwrap();
            }
        });
    }
}

async fn index_of(handle: &Handle, name: &str) -> u32 {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    links.try_next().await.unwrap().unwrap().header.index
}

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
    let ns = NamedNetns::new(&format!("palisade-bench-{}", std::process::id()));
    let (ns_name, netns) = (ns.name(), ns.file());
    let host = format!("pb{}", std::process::id() % 100_000);
    let mut g = c.benchmark_group("netlink_wiring");
    g.sample_size(20);
    // The call a runtime makes (the facade's veth path).
    let wiring = VethWiring::new(&host, "eth0")
        .host_address("10.233.0.1/24".parse().unwrap())
        .address("10.233.0.2/24".parse().unwrap())
        .gateway("10.233.0.1".parse().unwrap());
    let palisade_wire = || {
        Netlink::new()
            .unwrap()
            .wire_veth(&wiring, netns.as_fd())
            .unwrap();
    };
    // The same through the step-by-step API, one request per step.
    let palisade_steps = || {
        let mut nl = Netlink::new().unwrap();
        nl.add_link(&Veth::new(&host, "eth0").peer_netns(netns.as_fd()).into())
            .unwrap();
        nl.add_address(&host, "10.233.0.1/24".parse().unwrap())
            .unwrap();
        nl.set_up(&host).unwrap();
        let mut inside = Netlink::in_namespace(netns).unwrap();
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
            "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", ns_name,
        ]);
        ip(&["addr", "add", "10.233.0.1/24", "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        ip(&["-n", ns_name, "link", "set", "lo", "up"]);
        ip(&["-n", ns_name, "addr", "add", "10.233.0.2/24", "dev", "eth0"]);
        ip(&["-n", ns_name, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            ns_name,
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
    // palisade and rtnetlink are timed interleaved: each wiring right after
    // an untimed wiring + teardown of the other, so both meet the same
    // backlog of the kernel's deferred teardown work.
    let rt = Rt::new();
    // Every wiring starts from a fresh container's state: lo down too.
    let reset = || {
        teardown();
        Netlink::in_namespace(netns)
            .unwrap()
            .set_down("lo")
            .unwrap();
    };
    let timed = |wire: &dyn Fn()| {
        let start = Instant::now();
        wire();
        let spent = start.elapsed();
        reset();
        spent
    };
    let rt_wire = || rt.wire(&host, netns);
    g.bench_function("palisade/wire", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&rt_wire);
                    timed(&palisade_wire)
                })
                .sum()
        })
    });
    g.bench_function("palisade/wire_steps", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&palisade_wire);
                    timed(&palisade_steps)
                })
                .sum()
        })
    });
    g.bench_function("rtnetlink/wire", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(&palisade_wire);
                    timed(&rt_wire)
                })
                .sum()
        })
    });
    g.bench_function("ip/wire", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                ip_wire();
                total += start.elapsed();
                reset();
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
    // The other teardown: drop the container's namespace and let the
    // kernel remove the pair with it (asynchronously, in its cleanup_net
    // worker). The caller's cost is closing the last reference.
    g.bench_function("palisade/teardown_drop_netns", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let scratch = format!("{ns_name}-t{i}");
                ip(&["netns", "add", &scratch]);
                let file = File::open(format!("/run/netns/{scratch}")).unwrap();
                let mut nl = Netlink::new().unwrap();
                nl.add_link(&Veth::new(&host, "eth0").peer_netns(file.as_fd()).into())
                    .unwrap();
                let start = Instant::now();
                palisade_ns::unpersist(format!("/run/netns/{scratch}")).unwrap();
                drop(file);
                total += start.elapsed();
                // Wait until the kernel really removed the host end, so the
                // next round can reuse the name (not timed).
                while nl.link(&host).is_ok() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            total
        })
    });
    g.finish();

    // 100 pairs created, then deleted one by one.
    let mut g = c.benchmark_group("netlink_veth100");
    g.sample_size(10);
    let names: Vec<(String, String)> = (0..100)
        .map(|i| {
            (
                format!("pa{}x{i}", std::process::id() % 10_000),
                format!("pb{}x{i}", std::process::id() % 10_000),
            )
        })
        .collect();
    g.bench_function("palisade/create_delete", |b| {
        b.iter(|| {
            let mut nl = Netlink::new().unwrap();
            for (a, p) in &names {
                nl.add_link(&Veth::new(a, p).into()).unwrap();
            }
            for (a, _) in &names {
                nl.delete_link(a).unwrap();
            }
        })
    });
    g.bench_function("rtnetlink/create_delete", |b| {
        b.iter(|| rt.veth_pairs(&names))
    });
    g.bench_function("ip/create_delete", |b| {
        b.iter(|| {
            for (a, p) in &names {
                ip(&["link", "add", a, "type", "veth", "peer", "name", p]);
            }
            for (a, _) in &names {
                ip(&["link", "del", a]);
            }
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
