//! Wires a fresh network namespace like a container's — veth peer born
//! inside as `eth0`, addresses on both ends, `lo` and both ends up, default
//! route — with one `Netlink::wire_veth`, shows the result with `ip`,
//! pings it from the host and cleans up. Needs root.
//!
//! `cargo run -p palisade-netlink --example wire`

use std::os::fd::AsFd;
use std::process::Command;
use std::time::Instant;

use palisade_netlink::{Netlink, VethWiring};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A process sleeping in a new network namespace stands in for the
    // container; killing it at the end drops the namespace and the pair.
    let mut holder = Command::new("unshare")
        .args(["-n", "sleep", "30"])
        .spawn()?;
    let path = format!("/proc/{}/ns/net", holder.id());
    let ours = std::fs::read_link("/proc/self/ns/net")?;
    while std::fs::read_link(&path).map(|l| l == ours).unwrap_or(true) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let netns = std::fs::File::open(&path)?;
    let host = format!("pwx{}", std::process::id() % 100_000);
    let wiring = VethWiring::new(&host, "eth0")
        .host_address("10.236.0.1/24".parse()?)
        .address("10.236.0.2/24".parse()?)
        .gateway("10.236.0.1".parse()?);

    let start = Instant::now();
    let wired = Netlink::new()?.wire_veth(&wiring, netns.as_fd());
    let spent = start.elapsed();
    if let Err(e) = wired {
        let _ = holder.kill();
        let _ = holder.wait();
        return Err(e.into());
    }
    println!("wired {host} <-> eth0 in {spent:?}");
    let nsenter = format!("--net={path}");
    for what in [&["addr", "show", "eth0"][..], &["route"]] {
        let out = Command::new("nsenter")
            .arg(&nsenter)
            .args(["ip", "-br"])
            .args(what)
            .output()?;
        print!("inside: {}", String::from_utf8_lossy(&out.stdout));
    }
    let ping = Command::new("ping")
        .args(["-c", "2", "-W", "2", "10.236.0.2"])
        .status()?;
    println!("ping from the host: {ping}");
    let _ = Netlink::new()?.delete_link(&host);
    holder.kill()?;
    holder.wait()?;
    Ok(())
}
