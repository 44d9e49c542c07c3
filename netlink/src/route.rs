//! Routes: default via a gateway, on-link, metric, table.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, IpCidr, Netlink, Result};

/// A route to add or delete, or one read back.
///
/// ```
/// use palisade_netlink::Route;
/// let r = Route::default_via("10.88.0.1".parse().unwrap()).dev("eth0").metric(100);
/// assert!(r.destination.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Route {
    /// Destination network; `None` = default route.
    pub destination: Option<IpCidr>,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface name (resolved to an index when sent).
    pub dev: Option<String>,
    /// Output interface index (filled when read back).
    pub oif: Option<u32>,
    /// Metric (priority).
    pub metric: Option<u32>,
    /// Table (main = 254 when `None`).
    pub table: Option<u32>,
    /// Gateway is on-link even outside the interface's prefixes.
    pub onlink: bool,
    /// Address family, for a default route without gateway.
    pub ipv6: bool,
}

impl Route {
    /// A route to `destination`.
    pub fn to(destination: IpCidr) -> Route {
        Route {
            ipv6: destination.addr.is_ipv6(),
            destination: Some(destination),
            gateway: None,
            dev: None,
            oif: None,
            metric: None,
            table: None,
            onlink: false,
        }
    }

    /// The default route via `gateway`.
    pub fn default_via(gateway: IpAddr) -> Route {
        Route {
            ipv6: gateway.is_ipv6(),
            destination: None,
            gateway: Some(gateway),
            dev: None,
            oif: None,
            metric: None,
            table: None,
            onlink: false,
        }
    }

    /// Via `gateway`.
    pub fn via(mut self, gateway: IpAddr) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// Out of interface `name`.
    pub fn dev(mut self, name: &str) -> Self {
        self.dev = Some(name.to_owned());
        self
    }

    /// Metric.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    /// Routing table.
    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    /// Gateway on-link.
    pub fn onlink(mut self) -> Self {
        self.onlink = true;
        self
    }
}

impl Netlink {
    pub(crate) fn route_message(&mut self, r: &Route) -> Result<RouteMessage> {
        if let (Some(d), Some(g)) = (&r.destination, &r.gateway) {
            if d.addr.is_ipv4() != g.is_ipv4() {
                return Err(Error::Invalid {
                    what: "route (mixed address families)",
                    value: format!("{d} via {g}"),
                });
            }
        }
        let mut m = RouteMessage::default();
        m.header.address_family = if r.ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        m.header.destination_prefix_length = r.destination.map_or(0, |d| d.prefix);
        m.header.protocol = RouteProtocol::Static;
        m.header.kind = RouteType::Unicast;
        m.header.scope = if r.gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        let table = r.table.unwrap_or(RouteHeader::RT_TABLE_MAIN as u32);
        m.header.table = if table < 256 {
            table as u8
        } else {
            RouteHeader::RT_TABLE_UNSPEC
        };
        if r.onlink {
            m.header.flags = RouteFlags::Onlink;
        }
        if table >= 256 {
            m.attributes.push(RouteAttribute::Table(table));
        }
        if let Some(d) = r.destination {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(d.addr)));
        }
        if let Some(g) = r.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if let Some(dev) = &r.dev {
            let index = self.index_of(dev)?;
            m.attributes.push(RouteAttribute::Oif(index));
        } else if let Some(oif) = r.oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(p) = r.metric {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        Ok(m)
    }

    /// Adds a route.
    ///
    /// ```no_run
    /// use palisade_netlink::{Netlink, Route};
    /// let mut nl = Netlink::new()?;
    /// nl.add_route(&Route::default_via("10.88.0.1".parse().unwrap()).dev("eth0"))?;
    /// # Ok::<(), palisade_netlink::Error>(())
    /// ```
    pub fn add_route(&mut self, route: &Route) -> Result<()> {
        let m = self.route_message(route)?;
        self.ack(
            || format!("add route {}", describe(route)),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes a route.
    pub fn del_route(&mut self, route: &Route) -> Result<()> {
        let m = self.route_message(route)?;
        self.ack(
            || format!("delete route {}", describe(route)),
            RouteNetlinkMessage::DelRoute(m),
            0,
        )
    }

    /// Routes of one family (all tables).
    pub fn routes(&mut self, ipv6: bool) -> Result<Vec<Route>> {
        let mut q = RouteMessage::default();
        q.header.address_family = if ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let replies = self.dump("routes", RouteNetlinkMessage::GetRoute(q))?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewRoute(m) = r else {
                continue;
            };
            let mut route = Route {
                destination: None,
                gateway: None,
                dev: None,
                oif: None,
                metric: None,
                table: Some(m.header.table as u32),
                onlink: m.header.flags.contains(RouteFlags::Onlink),
                ipv6,
            };
            let ip = |a: &RouteAddress| match a {
                RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
                RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
                _ => None,
            };
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => {
                        route.destination = ip(d).map(|addr| IpCidr {
                            addr,
                            prefix: m.header.destination_prefix_length,
                        })
                    }
                    RouteAttribute::Gateway(g) => route.gateway = ip(g),
                    RouteAttribute::Oif(i) => route.oif = Some(*i),
                    RouteAttribute::Priority(p) => route.metric = Some(*p),
                    RouteAttribute::Table(t) => route.table = Some(*t),
                    _ => {}
                }
            }
            out.push(route);
        }
        Ok(out)
    }
}

pub(crate) fn describe(r: &Route) -> String {
    let dst = r
        .destination
        .map_or("default".to_owned(), |d| d.to_string());
    let via = r.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
    let dev = r
        .dev
        .as_ref()
        .map(|d| format!(" dev {d}"))
        .unwrap_or_default();
    format!("{dst}{via}{dev}")
}
