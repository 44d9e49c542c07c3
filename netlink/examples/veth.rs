//! Creates two network namespaces, wires them with a veth pair and
//! addresses, pings across, and cleans up. Needs root.
//!
//! `cargo run -p palisade-netlink --example veth`

use std::os::fd::AsFd;
use std::process::Command;

use palisade_netlink::{Netlink, Veth};

/// A process sleeping in a fresh network namespace (killed on drop).
struct Ns(std::process::Child, std::fs::File);

impl Ns {
    fn new() -> Ns {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "30"])
            .spawn()
            .expect("unshare");
        let path = format!("/proc/{}/ns/net", child.id());
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        while std::fs::read_link(&path).map(|l| l == me).unwrap_or(true) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let file = std::fs::File::open(&path).unwrap();
        Ns(child, file)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> Result<(), palisade_netlink::Error> {
    let (a, b) = (Ns::new(), Ns::new());
    let mut host = Netlink::new()?;
    let name = format!("pex{}", std::process::id() % 100_000);
    // Created in the host namespace, then each end moved into its netns.
    host.add_link(&Veth::new(&name, &format!("{name}b")).into())?;
    host.move_to_netns(&name, a.1.as_fd())?;
    host.move_to_netns(&format!("{name}b"), b.1.as_fd())?;
    for (ns, ifname, addr) in [
        (&a, name.clone(), "10.237.0.1/24"),
        (&b, format!("{name}b"), "10.237.0.2/24"),
    ] {
        let mut inside = Netlink::in_namespace(&ns.1)?;
        inside.loopback_up()?;
        inside.add_address_with(&ifname, addr.parse()?, true)?;
        inside.set_up(&ifname)?;
        println!("{ifname}: {addr} in netns of pid {}", ns.0.id());
    }
    let status = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", a.0.id()))
        .args(["ping", "-c", "2", "-W", "2", "10.237.0.2"])
        .status()
        .expect("ping");
    println!("ping across the pair: {status}");
    // Dropping the namespaces destroys the pair with them.
    Ok(())
}
