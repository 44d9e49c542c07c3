//! IPv4/IPv6 addresses of links.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{IpCidr, Netlink, Result};

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Address {
    /// Index of the link.
    pub index: u32,
    /// Address and prefix.
    pub cidr: IpCidr,
}

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

pub(crate) fn message(index: u32, cidr: &IpCidr, nodad: bool) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&cidr.addr);
    m.header.prefix_len = cidr.prefix;
    m.header.index = index;
    m.header.scope = if cidr.addr.is_loopback() {
        AddressScope::Host
    } else {
        AddressScope::Universe
    };
    m.attributes.push(AddressAttribute::Local(cidr.addr));
    m.attributes.push(AddressAttribute::Address(cidr.addr));
    if let Some(b) = cidr.broadcast() {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if nodad {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    m
}

impl Netlink {
    /// Adds `cidr` to link `name` (IPv4 with its broadcast address).
    ///
    /// ```no_run
    /// let mut nl = palisade_netlink::Netlink::new()?;
    /// nl.add_address("eth0", "10.88.0.2/24".parse()?)?;
    /// # Ok::<(), palisade_netlink::Error>(())
    /// ```
    pub fn add_address(&mut self, name: &str, cidr: IpCidr) -> Result<()> {
        self.add_address_with(name, cidr, false)
    }

    /// Adds an address; `nodad` skips IPv6 duplicate-address detection (so
    /// the address is usable at once).
    pub fn add_address_with(&mut self, name: &str, cidr: IpCidr, nodad: bool) -> Result<()> {
        let index = self.index_of(name)?;
        self.ack(
            || format!("add address {cidr} to {name}"),
            RouteNetlinkMessage::NewAddress(message(index, &cidr, nodad)),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes `cidr` from link `name`.
    pub fn del_address(&mut self, name: &str, cidr: IpCidr) -> Result<()> {
        let index = self.index_of(name)?;
        self.ack(
            || format!("delete address {cidr} from {name}"),
            RouteNetlinkMessage::DelAddress(message(index, &cidr, false)),
            0,
        )
    }

    /// Every address, or those of link `name`.
    pub fn addresses(&mut self, name: Option<&str>) -> Result<Vec<Address>> {
        let index = name.map(|n| self.index_of(n)).transpose()?;
        let replies = self.dump(
            "addresses",
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewAddress(m) = r else {
                continue;
            };
            if index.is_some_and(|i| i != m.header.index) {
                continue;
            }
            let ip = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(addr) = ip {
                out.push(Address {
                    index: m.header.index,
                    cidr: IpCidr {
                        addr,
                        prefix: m.header.prefix_len,
                    },
                });
            }
        }
        Ok(out)
    }
}
