//! Runs a command in a container, like a tiny `docker run`.
//!
//! ```text
//! cargo run --example run -- [--rootfs DIR | --lower DIR... --upper DIR --work DIR]
//!     [--memory 64M] [--pids N] [--cpus 0.5] [--net none|host|veth|macvlan:PARENT]
//!     [--ip 10.88.0.2/24] [--gateway 10.88.0.1] [--hostname H] [--cap-add CAP] [--cap-drop CAP] [--user UID:GID] [--userns]
//!     [--init] [--keep-env] [-d] [--seccomp FILE|unconfined] [-t]
//!     [-v SRC:DST[:ro]]... [--tmpfs DST[:OPTS]]... [--read-only] [--ulimit NAME=SOFT[:HARD]]...
//!     [-- CMD [ARGS...]]
//!
//! `-d` leaves the container running and prints its state as JSON, which
//! `cargo run --example exec -- STATE CMD...` runs a command in and
//! `cargo run --example exec -- --delete STATE` removes.
//! ```
//! Without `--rootfs`/`--lower` it runs the busybox rootfs the test kit
//! builds; without a command it prints who and where it is. Exits with the
//! container's status. As root it also gets a veth network and a cgroup
//! with memory/pids limits; as a normal user it runs rootless (a user
//! namespace maps you to root inside; network `none`).
//!
//! `--ip` is the container's address in its subnet (IPv4 or IPv6); with
//! `--net veth` the host end takes the `--gateway` address (default: the
//! subnet's first host address, as Docker picks it) in the same subnet,
//! and it is the container's default route. Both are checked before
//! anything is created.

use std::process::ExitCode;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use palisade::netlink::IpCidr;
use palisade::{CapSet, Container, IdMaps, Network, Resources};

/// The host end's address (with the subnet's prefix) and the gateway for a
/// container at `ip`: `gateway` if given, else the subnet's first host
/// address. Refuses a subnet without room for two hosts, a gateway outside
/// it or of the other family, and a container address that is the
/// gateway, the network or (IPv4) the broadcast address.
fn veth_ends(ip: &str, gateway: Option<&str>) -> Result<(String, String), String> {
    let cidr: IpCidr = ip.parse().map_err(|e| format!("--ip {ip:?}: {e}"))?;
    let (bits, addr) = match cidr.addr {
        IpAddr::V4(a) => (32u32, u128::from(u32::from(a))),
        IpAddr::V6(a) => (128, u128::from(a)),
    };
    let prefix = u32::from(cidr.prefix);
    if bits - prefix < 2 {
        return Err(format!(
            "--ip {ip}: a /{prefix} subnet has no room for the host end and the container"
        ));
    }
    let host_mask = (1u128 << (bits - prefix)) - 1;
    let network = addr & !host_mask;
    let to_ip = |n: u128| match bits {
        32 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        _ => IpAddr::V6(Ipv6Addr::from(n)),
    };
    if addr == network || (bits == 32 && addr == network | host_mask) {
        return Err(format!(
            "--ip {ip}: the subnet's network or broadcast address"
        ));
    }
    let gw = match gateway {
        None => to_ip(network + 1),
        Some(g) => {
            let g: IpAddr = g
                .parse()
                .map_err(|_| format!("--gateway {g:?}: not an address"))?;
            let n = match g {
                IpAddr::V4(a) if bits == 32 => u128::from(u32::from(a)),
                IpAddr::V6(a) if bits == 128 => u128::from(a),
                _ => return Err(format!("--gateway {g}: not the family of --ip {ip}")),
            };
            if n & !host_mask != network || n == network {
                return Err(format!("--gateway {g}: not a host of --ip {ip}'s subnet"));
            }
            g
        }
    };
    if gw == cidr.addr {
        return Err(format!(
            "--ip {ip}: the gateway's address (the host end's); pick another or --gateway"
        ));
    }
    Ok((format!("{gw}/{prefix}"), gw.to_string()))
}

fn usage(msg: &str) -> ExitCode {
    eprintln!(
        "run: {msg}\nusage: run [--rootfs DIR | --lower DIR... --upper DIR --work DIR] [--memory SIZE] [--pids N] [--cpus F] [--net none|host|veth|macvlan:PARENT] [--ip CIDR] [--gateway IP] [--hostname H] [--cap-add CAP] [--cap-drop CAP] [--user UID:GID] [--userns] [--init] [-d] [--seccomp FILE|unconfined] [-t] [-v SRC:DST[:ro]] [--tmpfs DST[:OPTS]] [--read-only] [--ulimit NAME=SOFT[:HARD]] [-- CMD ARGS...]"
    );
    ExitCode::from(125)
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// `-t`: copies our stdin to the container's terminal and its output to
/// our stdout until the program closes it (no raw mode: line by line).
fn relay(master: std::fs::File) {
    use std::io::{Read, Write};
    let Ok(mut input) = master.try_clone() else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || input.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut output = master;
    let mut buf = [0u8; 4096];
    let mut stdout = std::io::stdout();
    // EIO once the program (the terminal's last user) has gone.
    while let Ok(n) = output.read(&mut buf) {
        if n == 0 || stdout.write_all(&buf[..n]).is_err() {
            break;
        }
        let _ = stdout.flush();
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let i = std::cell::Cell::new(0);
    let mut rootfs = None;
    let (mut lowers, mut upper, mut work) = (Vec::new(), None, None);
    let mut resources = Resources::new().memory_max(64 << 20).pids_max(64);
    // As a normal user palisade runs rootless: no host networking, and a
    // cgroup only when asked for (it needs a delegated one).
    // SAFETY: geteuid has no preconditions.
    let rootless = unsafe { libc::geteuid() } != 0;
    let mut net = if rootless { "none" } else { "veth" }.to_owned();
    let mut limits_asked = false;
    let mut ip = None;
    let mut gateway = None;
    let mut hostname = "palisade".to_owned();
    let (mut cap_add, mut cap_drop) = (Vec::new(), Vec::new());
    let mut user = None;
    let mut userns = false;
    let mut init = false;
    let mut detach = false;
    let mut seccomp: Option<String> = None;
    let (mut tty, mut read_only) = (false, false);
    let mut mounts = Vec::new();
    let mut ulimits = Vec::new();
    let mut command = Vec::new();
    while i.get() < argv.len() {
        let arg = argv[i.get()].clone();
        i.set(i.get() + 1);
        let value = |name: &str| {
            i.set(i.get() + 1);
            argv.get(i.get() - 1)
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let result: Result<(), String> = (|| {
            match arg.as_str() {
                "--rootfs" => rootfs = Some(value("--rootfs")?),
                "--lower" => lowers.push(value("--lower")?),
                "--upper" => upper = Some(value("--upper")?),
                "--work" => work = Some(value("--work")?),
                "--memory" => {
                    limits_asked = true;
                    let v = value("--memory")?;
                    let bytes = parse_size(&v).ok_or(format!("bad size {v:?}"))?;
                    resources.memory.max = Some(bytes);
                }
                "--pids" => {
                    limits_asked = true;
                    let v = value("--pids")?;
                    resources.pids_max = Some(v.parse().map_err(|_| format!("bad count {v:?}"))?);
                }
                "--cpus" => {
                    limits_asked = true;
                    let v = value("--cpus")?;
                    let cpus: f64 = v.parse().map_err(|_| format!("bad cpus {v:?}"))?;
                    resources = resources.clone().cpus(cpus);
                }
                "--net" => net = value("--net")?,
                "--ip" => ip = Some(value("--ip")?),
                "--gateway" => gateway = Some(value("--gateway")?),
                "--hostname" => hostname = value("--hostname")?,
                "--cap-add" => cap_add.push(value("--cap-add")?),
                "--cap-drop" => cap_drop.push(value("--cap-drop")?),
                "--user" => {
                    let v = value("--user")?;
                    let (u, g) = v.split_once(':').ok_or("--user takes UID:GID")?;
                    user = Some((
                        u.parse().map_err(|_| "bad uid")?,
                        g.parse().map_err(|_| "bad gid")?,
                    ));
                }
                "--userns" => userns = true,
                "--init" => init = true,
                "-d" | "--detach" => detach = true,
                "--seccomp" => seccomp = Some(value("--seccomp")?),
                "-t" | "--tty" => tty = true,
                "--read-only" => read_only = true,
                "-v" | "--volume" => {
                    // SRC:DST[:ro]
                    let v = value("-v")?;
                    let parts: Vec<&str> = v.split(':').collect();
                    let (src, dst, ro) = match parts[..] {
                        [s, d] => (s, d, false),
                        [s, d, "ro"] => (s, d, true),
                        [s, d, "rw"] => (s, d, false),
                        _ => return Err(format!("-v {v:?}: SRC:DST[:ro|rw]")),
                    };
                    let mut options = vec!["rbind"];
                    if ro {
                        options.push("rro");
                    }
                    mounts.push(
                        palisade::Mount::oci("bind", src, dst, options)
                            .map_err(|e| format!("-v {v:?}: {e}"))?,
                    );
                }
                "--tmpfs" => {
                    // DST[:OPTIONS] with mount -o style options
                    let v = value("--tmpfs")?;
                    let (dst, opts) = v.split_once(':').unwrap_or((v.as_str(), "nosuid,nodev"));
                    mounts.push(
                        palisade::Mount::oci("tmpfs", "tmpfs", dst, opts.split(','))
                            .map_err(|e| format!("--tmpfs {v:?}: {e}"))?,
                    );
                }
                "--ulimit" => {
                    // NAME=SOFT[:HARD], as docker run --ulimit
                    let v = value("--ulimit")?;
                    let (name, limits) = v
                        .split_once('=')
                        .ok_or(format!("--ulimit {v:?}: NAME=SOFT[:HARD]"))?;
                    let kind: palisade::RlimitKind =
                        name.parse().map_err(|e| format!("--ulimit {v:?}: {e}"))?;
                    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
                    let num = |x: &str| {
                        x.parse::<u64>()
                            .map_err(|_| format!("--ulimit {v:?}: {x:?} is not a number"))
                    };
                    ulimits.push((kind, num(soft)?, num(hard)?));
                }
                "-h" | "--help" => return Err("help".into()),
                "--" => {
                    command.extend(argv[i.get()..].iter().cloned());
                    i.set(argv.len());
                }
                other => return Err(format!("unknown option {other:?}")),
            }
            Ok(())
        })();
        if let Err(e) = result {
            if e == "help" {
                usage("start a command in a container");
                return ExitCode::SUCCESS;
            }
            return usage(&e);
        }
    }
    if command.is_empty() {
        command = vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo \"hello from $(hostname)\"; id; echo \"pid $$ of $(ls /proc | grep -c '^[0-9]') visible\"; \
             echo \"cgroup (namespaced): $(grep memory /proc/self/cgroup)\"; \
             ip -o addr 2>/dev/null | awk '{print $2, $4}'; grep CapEff /proc/self/status"
                .into(),
        ];
    }
    let caps = match CapSet::docker_default().tweak(
        &cap_add.iter().map(String::as_str).collect::<Vec<_>>(),
        &cap_drop.iter().map(String::as_str).collect::<Vec<_>>(),
    ) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let cgroup = format!("palisade-demo-{}", std::process::id());
    let mut container = Container::new(command[0].clone())
        .args(command[1..].iter().cloned())
        .hostname(&hostname)
        .capabilities(caps)
        .init(init);
    if !rootless || limits_asked {
        container = container.cgroup(&cgroup, resources);
    }
    container = match (rootfs, upper, work) {
        (Some(dir), None, None) if lowers.is_empty() => container.rootfs(dir),
        (None, Some(up), Some(wk)) if !lowers.is_empty() => {
            container.overlay_rootfs(lowers, up, wk)
        }
        (None, None, None) if lowers.is_empty() => {
            container.rootfs(palisade_testkit::busybox_rootfs())
        }
        _ => return usage("use --rootfs DIR, or --lower DIR... with --upper DIR and --work DIR"),
    };
    if gateway.is_some() && net != "veth" && !net.starts_with("macvlan:") {
        return usage("--gateway needs --net veth or macvlan:PARENT");
    }
    container = match net.as_str() {
        "none" => container.network(Network::None),
        "host" => container.network(Network::Host),
        "veth" => {
            let host_if = format!("pal{}", std::process::id() % 1_000_000);
            let addr = ip.unwrap_or_else(|| "10.88.0.2/24".into());
            let (host_addr, gw) = match veth_ends(&addr, gateway.as_deref()) {
                Ok(ends) => ends,
                Err(e) => return usage(&e),
            };
            container.network(
                Network::veth(&host_if, "eth0")
                    .address(&addr)
                    .host_address(&host_addr)
                    .gateway(&gw),
            )
        }
        other => match other.strip_prefix("macvlan:") {
            Some(parent) => {
                let mut m = Network::macvlan(parent);
                if let Some(addr) = &ip {
                    m = m.address(addr);
                    // The gateway is a router of the parent's network: only
                    // the family and subnet can be checked here.
                    if let Some(gw) = &gateway {
                        if let Err(e) = veth_ends(addr, Some(gw)) {
                            return usage(&e);
                        }
                        m = m.gateway(gw);
                    }
                } else if gateway.is_some() {
                    return usage("--gateway needs --ip");
                }
                container.network(m)
            }
            None => return usage(&format!("unknown network {other:?}")),
        },
    };
    if let Some((u, g)) = user {
        container = container.user(u, g);
    }
    if userns {
        container = container
            .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
            .sys(false);
    }
    for m in mounts {
        container = container.mount(m);
    }
    for (kind, soft, hard) in ulimits {
        container = container.ulimit(kind, soft, hard);
    }
    if read_only {
        container = container.readonly_rootfs(true);
    }
    if tty && !detach {
        container = container.terminal(24, 80);
    }
    match seccomp.as_deref() {
        None => {}
        Some("unconfined") => container = container.seccomp_unconfined(),
        Some(file) => {
            let profile = std::fs::read_to_string(file)
                .map_err(|e| e.to_string())
                .and_then(|t| palisade::seccomp::Profile::from_json(&t).map_err(|e| e.to_string()));
            match profile {
                Ok(p) => container = container.seccomp(palisade::Seccomp::Profile(p)),
                Err(e) => return usage(&format!("--seccomp {file}: {e}")),
            }
        }
    }
    if detach {
        // Outlive this process (no parent-death signal) and let go of its
        // terminal and pipes, so `state=$(run -d …)` returns at once.
        container = container
            .parent_death_signal(None)
            .stdin(palisade::Stdio::Null)
            .stdout(palisade::Stdio::Null)
            .stderr(palisade::Stdio::Null);
    }
    let mut child = match container.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("run: {e}");
            return ExitCode::from(126);
        }
    };
    if detach {
        // The state is what `cargo run --example exec` attaches with.
        return match child.detach() {
            Ok(state) => {
                println!(
                    "{}",
                    serde_json::to_string(&state).expect("state is plain data")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("run: {e}");
                ExitCode::from(125)
            }
        };
    }
    if let Some(master) = child.take_pty() {
        relay(master);
    }
    match child.wait() {
        Ok(status) => {
            if child.oom_killed() {
                eprintln!("run: {status}: OOM-killed (the memory limit bit)");
            }
            ExitCode::from(status.shell_code() as u8)
        }
        Err(e) => {
            eprintln!("run: {e}");
            ExitCode::from(125)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::veth_ends;

    #[test]
    fn host_end_and_gateway_come_from_the_subnet() {
        let ends = |ip, gw| veth_ends(ip, gw).map_err(|e| e.to_string());
        let ok = |a: &str, b: &str| Ok((a.to_owned(), b.to_owned()));
        assert_eq!(
            ends("10.213.0.2/24", None),
            ok("10.213.0.1/24", "10.213.0.1")
        );
        assert_eq!(
            ends("10.213.5.77/16", None),
            ok("10.213.0.1/16", "10.213.0.1")
        );
        assert_eq!(
            ends("10.213.0.2/24", Some("10.213.0.254")),
            ok("10.213.0.254/24", "10.213.0.254")
        );
        assert_eq!(ends("fd00:1::2/64", None), ok("fd00:1::1/64", "fd00:1::1"));
        assert_eq!(
            ends("192.168.7.2/30", None),
            ok("192.168.7.1/30", "192.168.7.1")
        );
        for (ip, gw, says) in [
            ("10.213.0.1/24", None, "the gateway's address"),
            ("10.213.0.0/24", None, "network or broadcast"),
            ("10.213.0.255/24", None, "network or broadcast"),
            ("10.213.0.2/31", None, "no room"),
            ("10.213.0.2/24", Some("10.214.0.1"), "not a host"),
            ("10.213.0.2/24", Some("fd00::1"), "not the family"),
            ("10.213.0.2/24", Some("x"), "not an address"),
            ("10.213.0.2/33", None, "--ip"),
        ] {
            let err = ends(ip, gw).unwrap_err();
            assert!(err.contains(says), "{ip} {gw:?}: {err}");
        }
    }
}
