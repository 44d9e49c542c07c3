//! The host side of a container's network: a veth pair whose peer is born
//! in the container's network namespace with its final name, or a macvlan
//! born there on a host parent.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use palisade_netlink::{Error as NlError, IpCidr, Netlink, Route, VethWiring, check_ifname};
use palisade_ns::{NsKind, PidFd};

use crate::config::{Macvlan, Veth};
use crate::{SpawnError, Step};

/// Checks a veth description before anything is created.
pub(crate) fn validate(v: &Veth) -> Result<(), SpawnError> {
    veth_wiring(v)
        .and_then(|w| w.validate())
        .map_err(|e| SpawnError::from_lib(Step::Validate, e, None))
}

/// Checks a macvlan description before anything is created.
pub(crate) fn validate_macvlan(m: &Macvlan) -> Result<(), SpawnError> {
    for name in [&m.parent, &m.name] {
        check_ifname(name).map_err(|e| SpawnError::from_lib(Step::Validate, e, None))?;
    }
    if let Some(cidr) = &m.address {
        cidr.parse::<IpCidr>()
            .map_err(|e| SpawnError::from_lib(Step::Validate, e, None))?;
    }
    if let Some(gw) = &m.gateway {
        gw.parse::<IpAddr>()
            .map_err(|_| SpawnError::invalid(format!("invalid gateway {gw:?}")))?;
    }
    Ok(())
}

/// Creates the macvlan inside the child's netns (nothing on the host to
/// undo: it goes with the namespace), then addresses and routes it there.
pub(crate) fn wire_macvlan(m: &Macvlan, child: &PidFd) -> Result<(), SpawnError> {
    let netns = child
        .namespace(NsKind::Net)
        .map_err(|e| SpawnError::from_lib(Step::Network, e, None))?;
    let spec = palisade_netlink::LinkSpec::Macvlan {
        name: m.name.clone(),
        parent: m.parent.clone(),
        mode: m.mode,
    };
    Netlink::new()
        .and_then(|mut nl| nl.add_link_in(&spec, netns.as_fd()))
        .map_err(net_err)?;
    let mut inside = Netlink::in_namespace(&netns).map_err(net_err)?;
    configure_inside(
        &mut inside,
        &m.name,
        m.address.as_deref(),
        m.gateway.as_deref(),
        m.mtu,
    )
    .map_err(net_err)
}

/// Address, MTU, up and default route of the container's interface, from
/// a socket in its network namespace.
fn configure_inside(
    inside: &mut Netlink,
    name: &str,
    address: Option<&str>,
    gateway: Option<&str>,
    mtu: Option<u32>,
) -> Result<(), NlError> {
    if let Some(mtu) = mtu {
        inside.set_mtu(name, mtu)?;
    }
    if let Some(cidr) = address {
        inside.add_address_with(name, cidr.parse()?, true)?;
    }
    inside.set_up(name)?;
    if let Some(gw) = gateway {
        inside.add_route(&Route::default_via(parse_gateway(gw)?).dev(name))?;
    }
    Ok(())
}

fn parse_gateway(gw: &str) -> Result<IpAddr, NlError> {
    gw.parse().map_err(|_| NlError::Invalid {
        what: "gateway",
        value: gw.to_owned(),
    })
}

/// The netlink crate's description of the facade's veth (validated
/// already; parsing again is cheap).
fn veth_wiring(v: &Veth) -> Result<VethWiring, NlError> {
    let mut w = VethWiring::new(&v.host, &v.peer);
    let v6 = |what: &'static str, ip: IpAddr, text: &str| {
        if ip.is_ipv6() {
            Ok(())
        } else {
            Err(NlError::Invalid {
                what,
                value: text.to_owned(),
            })
        }
    };
    for (cidr, six) in [(&v.host_address, false), (&v.host_address6, true)] {
        if let Some(text) = cidr {
            let cidr: IpCidr = text.parse()?;
            if six {
                v6("host_address6 (not IPv6)", cidr.addr, text)?;
            }
            w = w.host_address(cidr);
        }
    }
    for (cidr, six) in [(&v.address, false), (&v.address6, true)] {
        if let Some(text) = cidr {
            let cidr: IpCidr = text.parse()?;
            if six {
                v6("address6 (not IPv6)", cidr.addr, text)?;
            }
            w = w.address(cidr);
        }
    }
    for (gw, six) in [(&v.gateway, false), (&v.gateway6, true)] {
        if let Some(text) = gw {
            let ip = parse_gateway(text)?;
            if six {
                v6("gateway6 (not IPv6)", ip, text)?;
            }
            w = w.gateway(ip);
        }
    }
    w.bridge = v.bridge.clone();
    w.mtu = v.mtu;
    // The child brings its lo up itself (with or without a veth).
    Ok(w.keep_loopback())
}

/// How long `remove` waits for the kernel to drop the pair with the dead
/// container's namespace before deleting it itself.
const VANISH_TIMEOUT: Duration = Duration::from_millis(200);

fn net_err(e: NlError) -> SpawnError {
    let errno = e.errno();
    SpawnError::from_lib(Step::Network, e, errno)
}

/// What the pipeline created in the host's network namespace.
#[derive(Debug)]
pub(crate) struct HostNetwork {
    host: String,
}

impl HostNetwork {
    /// Creates the pair (peer inside the child's netns), addresses and
    /// routes both ends, in one [`Netlink::wire_veth`]. On failure nothing
    /// is left on the host.
    pub(crate) fn wire(v: &Veth, child: &PidFd) -> Result<HostNetwork, SpawnError> {
        let netns = child
            .namespace(NsKind::Net)
            .map_err(|e| SpawnError::from_lib(Step::Network, e, None))?;
        let wiring = veth_wiring(v).map_err(net_err)?;
        Netlink::new()
            .and_then(|mut nl| nl.wire_veth(&wiring, netns.as_fd()))
            .map_err(net_err)?;
        Ok(HostNetwork {
            host: v.host.clone(),
        })
    }

    pub(crate) fn host_name(&self) -> &str {
        &self.host
    }

    /// Removes the host end. Called once the container is dead: its network
    /// namespace is going away and the kernel removes the pair with it, so
    /// by default this waits (bounded) for that instead of deleting — a
    /// delete of our own waits for an RCU grace period too and contends with
    /// the kernel's cleanup (measured: `teardown_drop_netns` beside
    /// `teardown` in benches/netlink.rs; in `Child::wait` of a veth
    /// container, median 30–34 ms against 38–39 ms when deleting). Deletes
    /// if the pair outlives the bound (another process still holds the
    /// namespace).
    pub(crate) fn remove(self) -> Result<(), NlError> {
        let mut nl = Netlink::new()?;
        let deadline = Instant::now() + VANISH_TIMEOUT;
        loop {
            match nl.link(&self.host) {
                Err(NlError::NotFound { .. }) => return Ok(()),
                Ok(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(500))
                }
                Ok(_) => break,
                Err(e) => return Err(e),
            }
        }
        match nl.delete_link(&self.host) {
            Ok(()) | Err(NlError::NotFound { .. }) => Ok(()),
            Err(NlError::Kernel {
                errno: nix::errno::Errno::ENODEV,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
