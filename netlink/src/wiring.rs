//! A container's veth network in one call: the fewest requests and round
//! trips the kernel allows.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkFlags, LinkMessage};

use crate::socket::Request;
use crate::{Error, IpCidr, Netlink, Result, Route, Veth, check_ifname};

/// A container's veth wiring: the pair with its peer born inside the
/// container's network namespace under its final name, the host end
/// addressed (or a bridge port) and up, the peer addressed and up, `lo` up
/// and a default route via each gateway (one per family: dual stack). Run
/// it with [`Netlink::wire_veth`].
///
/// Every address it adds, on both ends, carries `IFA_F_NODAD`: on a link
/// palisade just created there is nothing to collide with, and without it
/// an IPv6 address stays `tentative` (unusable) for the 1–2 s of duplicate
/// address detection after `wire_veth` returns.
///
/// ```
/// use palisade_netlink::VethWiring;
/// let w = VethWiring::new("vh42", "eth0")
///     .host_address("10.88.0.1/24".parse().unwrap())
///     .address("10.88.0.2/24".parse().unwrap())
///     .gateway("10.88.0.1".parse().unwrap());
/// assert_eq!(w.addresses.len(), 1);
/// assert!(w.loopback_up);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct VethWiring {
    /// Host end.
    pub host: String,
    /// Container end (e.g. `eth0`).
    pub peer: String,
    /// Addresses of the host end (usually the container's gateway), added
    /// without DAD: usable at once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub host_addresses: Vec<IpCidr>,
    /// Bridge the host end is a port of (instead of host addresses).
    #[cfg_attr(feature = "serde", serde(default))]
    pub bridge: Option<String>,
    /// Addresses of the container end (IPv6 ones without DAD: usable at
    /// once).
    #[cfg_attr(feature = "serde", serde(default))]
    pub addresses: Vec<IpCidr>,
    /// Default routes inside, via these gateways on the container end: at
    /// most one per family (an IPv4 and an IPv6 one for dual stack).
    #[cfg_attr(feature = "serde", serde(default))]
    pub gateways: Vec<IpAddr>,
    /// MTU of both ends.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mtu: Option<u32>,
    /// MAC address of the container end.
    #[cfg_attr(feature = "serde", serde(default))]
    pub peer_mac: Option<[u8; 6]>,
    /// Bring the container's `lo` up too (default true).
    #[cfg_attr(feature = "serde", serde(default = "yes"))]
    pub loopback_up: bool,
}

#[cfg(feature = "serde")]
fn yes() -> bool {
    true
}

impl VethWiring {
    /// `host` ↔ `peer`, nothing else yet; `lo` will be brought up.
    pub fn new(host: &str, peer: &str) -> VethWiring {
        VethWiring {
            host: host.to_owned(),
            peer: peer.to_owned(),
            host_addresses: Vec::new(),
            bridge: None,
            addresses: Vec::new(),
            gateways: Vec::new(),
            mtu: None,
            peer_mac: None,
            loopback_up: true,
        }
    }

    /// Adds an address to the host end.
    pub fn host_address(mut self, cidr: IpCidr) -> Self {
        self.host_addresses.push(cidr);
        self
    }

    /// Makes the host end a port of `bridge`.
    pub fn bridge(mut self, bridge: &str) -> Self {
        self.bridge = Some(bridge.to_owned());
        self
    }

    /// Adds an address to the container end.
    pub fn address(mut self, cidr: IpCidr) -> Self {
        self.addresses.push(cidr);
        self
    }

    /// A default route inside via `gateway`; call once per family for
    /// dual stack.
    pub fn gateway(mut self, gateway: IpAddr) -> Self {
        self.gateways.push(gateway);
        self
    }

    /// MTU of both ends.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// MAC address of the container end.
    pub fn peer_mac(mut self, mac: [u8; 6]) -> Self {
        self.peer_mac = Some(mac);
        self
    }

    /// Leaves the container's `lo` as it is.
    pub fn keep_loopback(mut self) -> Self {
        self.loopback_up = false;
        self
    }

    /// Checks what can be checked before anything is created: names, a
    /// bridge port without host addresses, each gateway with a container
    /// address of its family, at most one gateway per family.
    /// [`Netlink::wire_veth`] calls it first.
    ///
    /// ```
    /// use palisade_netlink::VethWiring;
    /// let w = VethWiring::new("vh1", "eth0").gateway("10.0.0.1".parse().unwrap());
    /// assert!(w.validate().is_err()); // no IPv4 address inside
    /// ```
    pub fn validate(&self) -> Result<()> {
        check_ifname(&self.host)?;
        check_ifname(&self.peer)?;
        if let Some(bridge) = &self.bridge {
            check_ifname(bridge)?;
            if !self.host_addresses.is_empty() {
                return Err(Error::Invalid {
                    what: "veth wiring (a bridge port takes no host addresses)",
                    value: self.host.clone(),
                });
            }
        }
        for (i, gw) in self.gateways.iter().enumerate() {
            if self.gateways[..i]
                .iter()
                .any(|g| g.is_ipv4() == gw.is_ipv4())
            {
                return Err(Error::Invalid {
                    what: "gateway (a second default route of the same family)",
                    value: gw.to_string(),
                });
            }
            if !self
                .addresses
                .iter()
                .any(|a| a.addr.is_ipv4() == gw.is_ipv4())
            {
                return Err(Error::Invalid {
                    what: "gateway (no container address of its family)",
                    value: gw.to_string(),
                });
            }
        }
        Ok(())
    }
}

impl Netlink {
    /// Wires a container's veth into the network namespace `netns` (this
    /// connection's namespace holds the host end). On failure the pair is
    /// deleted again, so nothing is left on the host.
    ///
    /// Why it is fast (each measured, see the crate's benchmarks): the peer
    /// is born inside `netns` with its final name (no move), with one queue
    /// pair, and the host end is born up (and a bridge port); the socket in
    /// `netns` is opened by the helper thread while the kernel creates the
    /// pair; the host addresses go in one datagram and everything inside
    /// (`lo` up, addresses, peer up, default route) in another, with links
    /// named by index found through `SIOCGIFINDEX` rather than a dump.
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    /// use palisade_netlink::{Netlink, VethWiring};
    /// let netns = std::fs::File::open("/run/netns/box")?;
    /// let wiring = VethWiring::new("vh42", "eth0")
    ///     .host_address("10.88.0.1/24".parse()?)
    ///     .address("10.88.0.2/24".parse()?)
    ///     .gateway("10.88.0.1".parse()?);
    /// Netlink::new()?.wire_veth(&wiring, netns.as_fd())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wire_veth(&mut self, wiring: &VethWiring, netns: BorrowedFd<'_>) -> Result<()> {
        wiring.validate()?;
        let inside = crate::nsworker::connect_in_background(netns)?;
        let mut veth = Veth::new(&wiring.host, &wiring.peer).peer_netns(netns).up();
        veth.mtu = wiring.mtu;
        veth.peer_mac = wiring.peer_mac;
        veth.master = wiring.bridge.clone();
        self.add_link(&veth.into())?;
        let configured = self
            .address_host_end(wiring)
            .and_then(|()| inside.wait())
            .and_then(|mut inside| inside.configure_peer(wiring));
        if let Err(e) = configured {
            // Both ends go with the host end.
            let _ = self.delete_link(&wiring.host);
            return Err(e);
        }
        Ok(())
    }

    fn address_host_end(&mut self, wiring: &VethWiring) -> Result<()> {
        if wiring.host_addresses.is_empty() {
            return Ok(());
        }
        let index = self.index_of(&wiring.host)?;
        let requests = wiring
            .host_addresses
            .iter()
            .map(|cidr| add_address(index, &wiring.host, cidr, true))
            .collect();
        self.ack_all(requests)
    }

    /// Everything inside the container's namespace, in one datagram.
    fn configure_peer(&mut self, wiring: &VethWiring) -> Result<()> {
        let name = &wiring.peer;
        let index = self.index_of(name)?;
        let mut requests = Vec::new();
        if wiring.loopback_up {
            requests.push(set_up(crate::link::by_name("lo"), "lo"));
        }
        for cidr in &wiring.addresses {
            requests.push(add_address(index, name, cidr, true));
        }
        requests.push(set_up(crate::link::message(index), name));
        for &gw in &wiring.gateways {
            let mut route = Route::default_via(gw);
            route.oif = Some(index);
            requests.push(Request {
                op: format!("add route {}", crate::route::describe(&route)),
                message: RouteNetlinkMessage::NewRoute(self.route_message(&route)?),
                flags: NLM_F_CREATE | NLM_F_EXCL,
            });
        }
        self.ack_all(requests)
    }
}

fn add_address(index: u32, name: &str, cidr: &IpCidr, nodad: bool) -> Request {
    Request {
        op: format!("add address {cidr} to {name}"),
        message: RouteNetlinkMessage::NewAddress(crate::address::message(index, cidr, nodad)),
        flags: NLM_F_CREATE | NLM_F_EXCL,
    }
}

fn set_up(mut m: LinkMessage, name: &str) -> Request {
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    Request {
        op: format!("set up of {name}"),
        message: RouteNetlinkMessage::SetLink(m),
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_what_the_kernel_would_refuse_later() {
        let ok = VethWiring::new("vh1", "eth0")
            .host_address("10.0.0.1/24".parse().unwrap())
            .address("10.0.0.2/24".parse().unwrap())
            .gateway("10.0.0.1".parse().unwrap());
        ok.validate().unwrap();
        let v6_gateway = ok.clone().gateway("fd00::1".parse().unwrap());
        assert!(matches!(
            v6_gateway.validate(),
            Err(Error::Invalid { value, .. }) if value == "fd00::1"
        ));
        let two_v4_routes = ok.clone().gateway("10.0.0.3".parse().unwrap());
        assert!(matches!(
            two_v4_routes.validate(),
            Err(Error::Invalid { value, .. }) if value == "10.0.0.3"
        ));
        let dual_stack = ok
            .clone()
            .address("fd00::2/64".parse().unwrap())
            .gateway("fd00::1".parse().unwrap());
        dual_stack.validate().unwrap();
        let port_with_address = ok.clone().bridge("br0");
        assert!(matches!(
            port_with_address.validate(),
            Err(Error::Invalid { .. })
        ));
        for (host, peer) in [("a/b", "eth0"), ("vh1", "sixteen-chars-xx")] {
            assert!(matches!(
                VethWiring::new(host, peer).validate(),
                Err(Error::InvalidName { .. })
            ));
        }
        assert!(matches!(
            VethWiring::new("vh1", "eth0").bridge("").validate(),
            Err(Error::InvalidName { .. })
        ));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_defaults_and_unknown_fields() {
        let w: VethWiring = serde_json::from_str(r#"{"host":"vh1","peer":"eth0"}"#).unwrap();
        assert_eq!(w, VethWiring::new("vh1", "eth0"));
        assert!(w.loopback_up);
        let full = VethWiring::new("vh1", "eth0")
            .address("10.0.0.2/24".parse().unwrap())
            .gateway("10.0.0.1".parse().unwrap())
            .mtu(1400)
            .keep_loopback();
        let back: VethWiring =
            serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
        let err =
            serde_json::from_str::<VethWiring>(r#"{"host":"a","peer":"b","gw":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `gw`"), "{err}");
    }
}
