//! palisade-netlink against the real kernel (root); every change is read
//! back with `ip -j` (on the host or through `nsenter --net`).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};

use palisade_netlink::{
    Error, IpvlanFlag, IpvlanMode, LinkSpec, MacvlanMode, Netlink, Route, Veth, VethWiring,
    get_sysctl, set_sysctl,
};
use palisade_testkit::{LinkGuard, ifname, require_root, run, skip_absent, try_run};
use serde_json::Value;

/// A host veth pair with both ends up, as the parent of macvlans or
/// ipvlans (a parent without carrier takes its slaves down). Returns the
/// guard and the parent's name.
fn parent_with_carrier(tag: &str) -> (LinkGuard, String) {
    let (pa, pb) = (ifname(&format!("{tag}a")), ifname(&format!("{tag}b")));
    let guard = LinkGuard::new(&pa);
    let mut nl = Netlink::new().unwrap();
    nl.add_link(&Veth::new(&pa, &pb).into()).unwrap();
    nl.set_up(&pa).unwrap();
    nl.set_up(&pb).unwrap();
    (guard, pa)
}

/// A process in a fresh network namespace.
struct NetNs {
    child: Child,
    file: std::fs::File,
}

impl NetNs {
    fn new() -> NetNs {
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let child = Command::new("unshare")
            .args(["-n", "sleep", "60"])
            .spawn()
            .unwrap();
        let path = format!("/proc/{}/ns/net", child.id());
        for _ in 0..500 {
            if std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(ours) != ours {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let file = std::fs::File::open(&path).unwrap();
        assert_ne!(
            file.metadata().unwrap().ino(),
            ours,
            "unshare -n did not take effect"
        );
        NetNs { child, file }
    }

    fn arg(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.child.id())
    }

    fn ip_json(&self, args: &[&str]) -> Value {
        let mut full = vec![self.arg(), "ip".into(), "-j".into()];
        full.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        serde_json::from_str(&run("nsenter", &refs)).unwrap()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_link(name: &str) -> Option<Value> {
    let out = try_run("ip", &["-j", "-d", "link", "show", "dev", name]).ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    v.as_array()?.first().cloned()
}

#[test]
fn bad_names_are_refused_before_the_kernel() {
    let mut nl = Netlink::new().unwrap();
    for bad in ["", "sixteen-chars-xx", "a/b", "a b", ".."] {
        assert!(
            matches!(
                nl.add_link(&Veth::new(bad, "x").into()),
                Err(Error::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        nl.link("pt-no-such-if"),
        Err(Error::NotFound { .. })
    ));
    // index_of asks the kernel by ioctl: same typed errors.
    assert_eq!(nl.index_of("lo").unwrap(), 1);
    assert!(matches!(
        nl.index_of("pt-no-such-if"),
        Err(Error::NotFound { name }) if name == "pt-no-such-if"
    ));
    assert!(matches!(nl.index_of("a/b"), Err(Error::InvalidName { .. })));
}

#[test]
fn veth_pair_lifecycle_matches_ip() {
    let Some(root) = require_root("creates links") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let (a, b) = (ifname("va"), ifname("vb"));
        let _g = LinkGuard::new(&a);
        let mut nl = Netlink::new().unwrap();
        nl.add_link(&Veth::new(&a, &b).mtu(1400).into()).unwrap();
        let ip = host_link(&a).unwrap();
        assert_eq!(ip["linkinfo"]["info_kind"], "veth");
        assert_eq!(ip["mtu"], 1400);
        let ours = nl.link(&a).unwrap();
        assert_eq!(ours.index as u64, ip["ifindex"].as_u64().unwrap());
        assert_eq!(ours.kind.as_deref(), Some("veth"));
        assert!(nl.links().unwrap().iter().any(|l| l.name == b));

        // Existing name: the kernel's errno and message come back.
        let err = nl
            .add_link(&Veth::new(&a, &ifname("vc")).into())
            .unwrap_err();
        assert_eq!(err.errno(), Some(nix::errno::Errno::EEXIST), "{err}");

        nl.set_mtu(&a, 1300).unwrap();
        nl.set_mac(&a, [0x02, 0, 0, 0xaa, 0xbb, 0xcc]).unwrap();
        nl.set_up(&a).unwrap();
        let ip = host_link(&a).unwrap();
        assert_eq!(ip["mtu"], 1300);
        assert_eq!(ip["address"], "02:00:00:aa:bb:cc");
        assert!(ip["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        nl.set_down(&a).unwrap();
        let renamed = ifname("vr");
        nl.rename(&a, &renamed).unwrap();
        let _g2 = LinkGuard::new(&renamed);
        assert!(host_link(&a).is_none());
        assert!(host_link(&renamed).is_some());
        nl.delete_link(&renamed).unwrap();
        assert!(
            host_link(&renamed).is_none() && host_link(&b).is_none(),
            "a veth end survived"
        );
    });
}

#[test]
fn container_wiring_with_peer_born_in_the_netns_answers_ping() {
    let Some(_root) = require_root("creates links and namespaces") else {
        return;
    };
    let ns = NetNs::new();
    let host = ifname("ph");
    let _g = LinkGuard::new(&host);
    let before = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
    let mut nl = Netlink::new().unwrap();
    nl.add_link(&Veth::new(&host, "eth0").peer_netns(ns.file.as_fd()).into())
        .unwrap();
    nl.add_address(&host, "10.231.7.1/24".parse().unwrap())
        .unwrap();
    nl.set_up(&host).unwrap();
    let mut inside = Netlink::in_namespace(&ns.file).unwrap();
    assert_eq!(
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino(),
        before,
        "caller moved"
    );
    // The helper that opened it went back home: a connection to our own
    // namespace sees the host end, not the container's eth0.
    let home = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
    let mut again = Netlink::in_namespace(&home).unwrap();
    assert!(
        again.link(&host).is_ok(),
        "helper thread did not return home"
    );
    inside.loopback_up().unwrap();
    inside
        .add_address("eth0", "10.231.7.2/24".parse().unwrap())
        .unwrap();
    inside.set_up("eth0").unwrap();
    inside
        .add_route(&Route::default_via("10.231.7.1".parse().unwrap()).dev("eth0"))
        .unwrap();

    let links = ns.ip_json(&["link", "show", "eth0"]);
    assert_eq!(links[0]["ifname"], "eth0");
    let addrs = ns.ip_json(&["addr", "show", "eth0"]);
    let local: Vec<&str> = addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert!(local.contains(&"10.231.7.2"), "{addrs}");
    let routes = ns.ip_json(&["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.231.7.1", "{routes}");
    assert_eq!(
        inside.addresses(Some("eth0")).unwrap()[0].cidr.to_string(),
        "10.231.7.2/24"
    );
    assert!(
        inside
            .routes(false)
            .unwrap()
            .iter()
            .any(|r| r.destination.is_none() && r.gateway == Some("10.231.7.1".parse().unwrap()))
    );
    run("ping", &["-c", "1", "-W", "2", "10.231.7.2"]);

    // Namespaced sysctl: set inside, host unchanged.
    let host_fwd = get_sysctl(None, "net.ipv4.ip_forward").unwrap();
    let want = if host_fwd == "1" { "0" } else { "1" };
    set_sysctl(Some(ns.file.as_fd()), "net.ipv4.ip_forward", want).unwrap();
    let seen = run(
        "nsenter",
        &[&ns.arg(), "cat", "/proc/sys/net/ipv4/ip_forward"],
    );
    assert_eq!(seen.trim(), want);
    assert_eq!(get_sysctl(None, "net.ipv4.ip_forward").unwrap(), host_fwd);
    assert!(
        set_sysctl(None, "kernel.hostname", "x").is_err(),
        "only net.* keys"
    );
    inside
        .del_route(&Route::default_via("10.231.7.1".parse().unwrap()).dev("eth0"))
        .unwrap();
    inside
        .del_address("eth0", "10.231.7.2/24".parse().unwrap())
        .unwrap();
    // (the IPv6 link-local address stays)
    assert!(
        !inside
            .addresses(Some("eth0"))
            .unwrap()
            .iter()
            .any(|a| a.cidr.addr.is_ipv4())
    );
}

fn flags(link: &Value) -> Vec<String> {
    link["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn locals(addrs: &Value) -> Vec<String> {
    addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// `wire_veth` builds the whole container network in one call: read back
/// on both sides with `ip -j`, then a ping across, both ways.
#[test]
fn wire_veth_wires_a_container_in_one_call() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let ns = NetNs::new();
        let host = ifname("pw");
        let _g = LinkGuard::new(&host);
        let before = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        let wiring = VethWiring::new(&host, "eth0")
            .host_address("10.232.9.1/24".parse().unwrap())
            .address("10.232.9.2/24".parse().unwrap())
            .address("fd00:232:9::2/64".parse().unwrap())
            .gateway("10.232.9.1".parse().unwrap())
            .mtu(1400)
            .peer_mac([0x02, 0, 0, 0x23, 0x20, 0x09]);
        Netlink::new()
            .unwrap()
            .wire_veth(&wiring, ns.file.as_fd())
            .unwrap();
        assert_eq!(
            std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino(),
            before,
            "caller moved"
        );

        let h = host_link(&host).unwrap();
        assert!(flags(&h).contains(&"UP".to_owned()), "{h}");
        assert_eq!(h["mtu"], 1400);
        // One queue pair, not the kernel's one per possible CPU.
        assert_eq!(h["num_tx_queues"], 1, "{h}");
        assert_eq!(h["num_rx_queues"], 1, "{h}");
        let ha: Value =
            serde_json::from_str(&run("ip", &["-j", "addr", "show", "dev", &host])).unwrap();
        assert_eq!(
            locals(&ha).first().map(String::as_str),
            Some("10.232.9.1/24")
        );

        let eth0 = ns.ip_json(&["-d", "link", "show", "eth0"]);
        assert!(flags(&eth0[0]).contains(&"UP".to_owned()), "{eth0}");
        assert_eq!(eth0[0]["mtu"], 1400);
        assert_eq!(eth0[0]["address"], "02:00:00:23:20:09");
        assert_eq!(eth0[0]["num_tx_queues"], 1, "{eth0}");
        let lo = ns.ip_json(&["link", "show", "lo"]);
        assert!(flags(&lo[0]).contains(&"UP".to_owned()), "{lo}");
        let addrs = locals(&ns.ip_json(&["addr", "show", "eth0"]));
        assert!(addrs.contains(&"10.232.9.2/24".to_owned()), "{addrs:?}");
        assert!(addrs.contains(&"fd00:232:9::2/64".to_owned()), "{addrs:?}");
        let routes = ns.ip_json(&["route", "show", "default"]);
        assert_eq!(routes[0]["gateway"], "10.232.9.1", "{routes}");
        assert_eq!(routes[0]["dev"], "eth0", "{routes}");

        run("ping", &["-c", "1", "-W", "2", "10.232.9.2"]);
        ping_from(&ns, "10.232.9.1");
        Netlink::new().unwrap().delete_link(&host).unwrap();
    });
}

/// A wiring the kernel refuses half-way leaves nothing on the host; one
/// that is wrong on its face is refused before the kernel.
#[test]
fn wire_veth_failures_leave_nothing_behind() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let ns = NetNs::new();
        let host = ifname("pf");
        let _g = LinkGuard::new(&host);
        let mut nl = Netlink::new().unwrap();
        // The gateway is outside the container's prefix: the route is
        // refused after the pair, the addresses and the ups went in.
        let unreachable = VethWiring::new(&host, "eth0")
            .address("10.232.8.2/24".parse().unwrap())
            .gateway("10.232.99.1".parse().unwrap());
        let err = nl.wire_veth(&unreachable, ns.file.as_fd()).unwrap_err();
        assert!(
            matches!(&err, Error::Kernel { op, errno, .. }
                if op.starts_with("add route") && *errno == nix::errno::Errno::ENETUNREACH),
            "{err}"
        );
        assert!(host_link(&host).is_none(), "host end left behind");
        let inside = ns.ip_json(&["link", "show"]);
        assert!(
            inside
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["ifname"] != "eth0"),
            "{inside}"
        );

        // A gateway without an address of its family, a bridge port with
        // addresses, a bad name: typed, and nothing created.
        let no_v6 = VethWiring::new(&host, "eth0")
            .address("10.232.8.2/24".parse().unwrap())
            .gateway("fd00::1".parse().unwrap());
        assert!(matches!(
            nl.wire_veth(&no_v6, ns.file.as_fd()),
            Err(Error::Invalid { .. })
        ));
        let both = VethWiring::new(&host, "eth0")
            .bridge("pbr-x")
            .host_address("10.232.8.1/24".parse().unwrap());
        assert!(matches!(
            nl.wire_veth(&both, ns.file.as_fd()),
            Err(Error::Invalid { .. })
        ));
        let long = VethWiring::new("sixteen-chars-xx", "eth0");
        assert!(matches!(
            nl.wire_veth(&long, ns.file.as_fd()),
            Err(Error::InvalidName { .. })
        ));
        // A missing bridge is NotFound, before the pair exists.
        let no_bridge = VethWiring::new(&host, "eth0").bridge("pt-no-such-br");
        assert!(matches!(
            nl.wire_veth(&no_bridge, ns.file.as_fd()),
            Err(Error::NotFound { name }) if name == "pt-no-such-br"
        ));
        assert!(host_link(&host).is_none());
    });
}

/// A bridge port wired by `wire_veth` is born enslaved and up.
#[test]
fn wire_veth_as_a_bridge_port() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let br = ifname("pwb");
        let port = ifname("pwp");
        let _g = (LinkGuard::new(&br), LinkGuard::new(&port));
        let mut nl = Netlink::new().unwrap();
        nl.add_link(&LinkSpec::Bridge { name: br.clone() }).unwrap();
        nl.set_up(&br).unwrap();
        let ns = NetNs::new();
        let wiring = VethWiring::new(&port, "eth0")
            .bridge(&br)
            .address("10.232.7.2/24".parse().unwrap());
        nl.wire_veth(&wiring, ns.file.as_fd()).unwrap();
        let p = host_link(&port).unwrap();
        assert_eq!(p["master"], br.as_str(), "{p}");
        assert!(flags(&p).contains(&"UP".to_owned()), "{p}");
        nl.delete_link(&port).unwrap();
        nl.delete_link(&br).unwrap();
    });
}

#[test]
fn move_to_netns_and_bridge_ports() {
    let Some(_root) = require_root("creates links") else {
        return;
    };
    let ns = NetNs::new();
    let (br, a, b) = (ifname("br"), ifname("pa"), ifname("pb"));
    let _g = (LinkGuard::new(&br), LinkGuard::new(&a));
    let mut nl = Netlink::new().unwrap();
    nl.add_link(&LinkSpec::Bridge { name: br.clone() }).unwrap();
    nl.add_link(&Veth::new(&a, &b).into()).unwrap();
    nl.set_master(&a, &br).unwrap();
    assert_eq!(host_link(&a).unwrap()["master"], br.as_str());
    assert_eq!(nl.link(&a).unwrap().master, Some(nl.index_of(&br).unwrap()));
    nl.no_master(&a).unwrap();
    assert!(host_link(&a).unwrap().get("master").is_none());
    nl.move_to_netns(&b, ns.file.as_fd()).unwrap();
    assert!(host_link(&b).is_none());
    assert_eq!(ns.ip_json(&["link", "show", &b])[0]["ifname"], b.as_str());
}

#[test]
fn macvlan_on_a_parent() {
    let Some(_root) = require_root("creates links") else {
        return;
    };
    let (a, b, mv) = (ifname("ma"), ifname("mb"), ifname("mv"));
    let _g = (LinkGuard::new(&a), LinkGuard::new(&mv));
    let mut nl = Netlink::new().unwrap();
    nl.add_link(&Veth::new(&a, &b).into()).unwrap();
    nl.add_link(&LinkSpec::Macvlan {
        name: mv.clone(),
        parent: a.clone(),
        mode: MacvlanMode::Bridge,
    })
    .unwrap();
    let ip = host_link(&mv).unwrap();
    assert_eq!(ip["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(ip["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(ip["link"], a.as_str());
}

#[test]
fn kinds_the_kernel_lacks_are_typed_and_present_ones_work() {
    let Some(_root) = require_root("creates links") else {
        return;
    };
    let (a, b) = (ifname("ia"), ifname("ib"));
    let _g = LinkGuard::new(&a);
    let mut nl = Netlink::new().unwrap();
    nl.add_link(&Veth::new(&a, &b).into()).unwrap();
    let specs = [
        LinkSpec::Dummy { name: ifname("dm") },
        LinkSpec::Ipvlan {
            name: ifname("iv"),
            parent: a.clone(),
            mode: IpvlanMode::L2,
            flag: IpvlanFlag::Bridge,
        },
    ];
    for spec in specs {
        let name = spec.name().to_owned();
        let _g = LinkGuard::new(&name);
        match nl.add_link(&spec) {
            Ok(()) => {
                let ip = host_link(&name).unwrap();
                assert_eq!(ip["linkinfo"]["info_kind"], spec.kind());
            }
            Err(Error::Unsupported { kind, message }) => {
                assert_eq!(kind, spec.kind());
                // `ip` agrees that the kernel lacks it.
                let ip = try_run("ip", &["link", "add", &name, "type", kind]);
                assert!(ip.is_err(), "ip could create {kind}");
                skip_absent(kind, &format!("kernel says: {message:?}"));
            }
            Err(other) => panic!("{}: {other}", spec.kind()),
        }
    }
}

/// Two network namespaces talk over ipvlan slaves of one parent (L2).
/// Runs where the kernel has ipvlan (the v2 guest lane); elsewhere a
/// printed skip after probing.
#[test]
fn ipvlan_connects_two_namespaces() {
    let Some(_root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_g, pa) = parent_with_carrier("ip");
    let mut nl = Netlink::new().unwrap();
    let (ns1, ns2) = (NetNs::new(), NetNs::new());
    let mut slaves = Vec::new();
    for (i, ns) in [&ns1, &ns2].into_iter().enumerate() {
        let name = ifname(&format!("iv{i}"));
        let spec = LinkSpec::Ipvlan {
            name: name.clone(),
            parent: pa.clone(),
            mode: IpvlanMode::L2,
            flag: IpvlanFlag::Bridge,
        };
        match nl.add_link(&spec) {
            Ok(()) => {}
            Err(Error::Unsupported { message, .. }) => {
                skip_absent("ipvlan", &format!("kernel says: {message:?}"));
                return;
            }
            Err(e) => panic!("{e}"),
        }
        nl.move_to_netns(&name, ns.file.as_fd()).unwrap();
        let mut inside = Netlink::in_namespace(&ns.file).unwrap();
        inside.loopback_up().unwrap();
        inside
            .add_address_with(
                &name,
                format!("10.236.0.{}/24", i + 1).parse().unwrap(),
                true,
            )
            .unwrap();
        inside.set_up(&name).unwrap();
        slaves.push(name);
    }
    let kind = ns1.ip_json(&["-d", "link", "show", &slaves[0]]);
    assert_eq!(kind[0]["linkinfo"]["info_kind"], "ipvlan");
    run(
        "nsenter",
        &[&ns1.arg(), "ping", "-c", "1", "-W", "3", "10.236.0.2"],
    );
    run(
        "nsenter",
        &[&ns2.arg(), "ping", "-c", "1", "-W", "3", "10.236.0.1"],
    );
}

/// Addresses `eth0` in `ns` and brings it (and `lo`) up.
fn address_eth0(ns: &NetNs, cidr: &str) {
    let mut inside = Netlink::in_namespace(&ns.file).unwrap();
    inside.loopback_up().unwrap();
    inside
        .add_address_with("eth0", cidr.parse().unwrap(), true)
        .unwrap();
    inside.set_up("eth0").unwrap();
}

fn ping_from(ns: &NetNs, to: &str) {
    run("nsenter", &[&ns.arg(), "ping", "-c", "1", "-W", "3", to]);
}

/// Two network namespaces, each with a macvlan `eth0` (bridge mode) born
/// inside it on one host parent, reach each other.
#[test]
fn macvlans_born_in_two_namespaces_reach_each_other() {
    let Some(_root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_g, pa) = parent_with_carrier("mp");
    let mut nl = Netlink::new().unwrap();
    let (ns1, ns2) = (NetNs::new(), NetNs::new());
    for (i, ns) in [&ns1, &ns2].into_iter().enumerate() {
        let spec = LinkSpec::Macvlan {
            name: "eth0".into(),
            parent: pa.clone(),
            mode: MacvlanMode::Bridge,
        };
        nl.add_link_in(&spec, ns.file.as_fd()).unwrap();
        address_eth0(ns, &format!("10.237.0.{}/24", i + 1));
    }
    // Born inside: never visible on the host, parent is the host's link.
    assert!(host_link("eth0").is_none_or(|l| l["linkinfo"]["info_kind"] != "macvlan"));
    let link = ns1.ip_json(&["-d", "link", "show", "eth0"]);
    assert_eq!(link[0]["linkinfo"]["info_kind"], "macvlan", "{link}");
    assert_eq!(link[0]["linkinfo"]["info_data"]["mode"], "bridge", "{link}");
    ping_from(&ns1, "10.237.0.2");
    ping_from(&ns2, "10.237.0.1");
    // A name already taken inside the namespace is the kernel's EEXIST.
    let again = nl.add_link_in(
        &LinkSpec::Macvlan {
            name: "eth0".into(),
            parent: pa.clone(),
            mode: MacvlanMode::Bridge,
        },
        ns1.file.as_fd(),
    );
    assert_eq!(again.unwrap_err().errno(), Some(nix::errno::Errno::EEXIST));
}

/// Two network namespaces whose veth peers are ports of one host bridge
/// reach each other through it.
#[test]
fn two_namespaces_joined_by_a_bridge_reach_each_other() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let br = ifname("pbr");
        let _g = LinkGuard::new(&br);
        let mut nl = Netlink::new().unwrap();
        nl.add_link(&LinkSpec::Bridge { name: br.clone() }).unwrap();
        nl.set_up(&br).unwrap();
        let (ns1, ns2) = (NetNs::new(), NetNs::new());
        let mut ports = Vec::new();
        for (i, ns) in [&ns1, &ns2].into_iter().enumerate() {
            let port = ifname(&format!("bp{i}"));
            ports.push(LinkGuard::new(&port));
            nl.add_link(&Veth::new(&port, "eth0").peer_netns(ns.file.as_fd()).into())
                .unwrap();
            nl.set_master(&port, &br).unwrap();
            nl.set_up(&port).unwrap();
            assert_eq!(host_link(&port).unwrap()["master"], br.as_str());
            address_eth0(ns, &format!("10.238.0.{}/24", i + 1));
        }
        ping_from(&ns1, "10.238.0.2");
        ping_from(&ns2, "10.238.0.1");
        drop((ns1, ns2));
        drop(ports);
        nl.delete_link(&br).unwrap();
    });
}

/// An rtnetlink handle bound to another namespace sees that namespace's
/// links, and no thread of the runtime moved.
#[cfg(feature = "rtnetlink")]
#[test]
fn rtnetlink_handle_bound_to_a_namespace() {
    use futures::TryStreamExt;
    let Some(_root) = require_root("creates a network namespace") else {
        return;
    };
    let ns = NetNs::new();
    let outside_runtime = palisade_netlink::rtnetlink_in(&ns.file);
    assert!(
        outside_runtime.is_err(),
        "no runtime must be an error, not a panic"
    );
    let before = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let names: Vec<u32> = rt.block_on(async {
        let (connection, handle) = palisade_netlink::rtnetlink_in(&ns.file).unwrap();
        tokio::spawn(connection);
        handle
            .link()
            .get()
            .execute()
            .map_ok(|l| l.header.index)
            .try_collect()
            .await
            .unwrap()
    });
    // A fresh namespace has only `lo` (index 1); the host has more.
    assert_eq!(names, [1], "links seen through the handle");
    assert_eq!(
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino(),
        before,
        "the calling thread moved"
    );
}

/// The blocking connection from async code: requests run on the blocking
/// pool and their results come back.
#[cfg(feature = "tokio")]
#[test]
fn async_netlink_runs_requests_from_async_code() {
    let Some(_root) = require_root("creates a network namespace") else {
        return;
    };
    let ns = NetNs::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let nl = palisade_netlink::AsyncNetlink::new(Netlink::in_namespace(&ns.file).unwrap());
        nl.run(|nl| nl.loopback_up()).await.unwrap();
        let lo = nl.run(|nl| nl.link("lo")).await.unwrap();
        assert!(lo.up);
        let missing = nl.clone().run(|nl| nl.link("pt-no-such")).await;
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );
    });
    let links = ns.ip_json(&["link", "show", "lo"]);
    assert!(
        links[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP"),
        "{links}"
    );
}

/// A dual-stack `wire_veth` is usable the moment it returns (issue 18,
/// item 5): no address on either end is `tentative` (all carry `nodad`),
/// both default routes are in, and the first ping of each family from the
/// host to the container — and from the container to the host — answers.
#[test]
fn dual_stack_wiring_is_usable_when_wire_veth_returns() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let ns = NetNs::new();
        let host = ifname("p6");
        let _g = LinkGuard::new(&host);
        let wiring = VethWiring::new(&host, "eth0")
            .host_address("10.232.16.1/24".parse().unwrap())
            .host_address("fd00:18::1/64".parse().unwrap())
            .address("10.232.16.2/24".parse().unwrap())
            .address("fd00:18::2/64".parse().unwrap())
            .gateway("10.232.16.1".parse().unwrap())
            .gateway("fd00:18::1".parse().unwrap());
        Netlink::new()
            .unwrap()
            .wire_veth(&wiring, ns.file.as_fd())
            .unwrap();
        // At once: pings of each family both ways, one packet, 1 s each.
        for (from_inside, ip) in [
            (false, "10.232.16.2"),
            (false, "fd00:18::2"),
            (true, "10.232.16.1"),
            (true, "fd00:18::1"),
        ] {
            let pinged = if from_inside {
                try_run("nsenter", &[&ns.arg(), "ping", "-c1", "-W1", ip])
            } else {
                try_run("ping", &["-c1", "-W1", ip])
            };
            assert!(
                pinged.is_ok(),
                "ping {ip} (inside: {from_inside}): {pinged:?}"
            );
        }
        let v6 = |addrs: Value| -> Vec<(String, bool)> {
            addrs[0]["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["family"] == "inet6" && a["scope"] == "global")
                .map(|a| {
                    (
                        a["local"].as_str().unwrap().to_owned(),
                        a.get("tentative").is_some() || a.get("dadfailed").is_some(),
                    )
                })
                .collect()
        };
        let host_addrs: Value =
            serde_json::from_str(&run("ip", &["-j", "addr", "show", "dev", &host])).unwrap();
        assert_eq!(v6(host_addrs), [("fd00:18::1".to_owned(), false)]);
        assert_eq!(
            v6(ns.ip_json(&["addr", "show", "eth0"])),
            [("fd00:18::2".to_owned(), false)]
        );
        let v4_default = ns.ip_json(&["-4", "route", "show", "default"]);
        assert_eq!(v4_default[0]["gateway"], "10.232.16.1", "{v4_default}");
        let v6_default = ns.ip_json(&["-6", "route", "show", "default"]);
        assert_eq!(v6_default[0]["gateway"], "fd00:18::1", "{v6_default}");
        let lo = ns.ip_json(&["link", "show", "lo"]);
        assert!(flags(&lo[0]).contains(&"UP".to_owned()), "{lo}");
    });
}
