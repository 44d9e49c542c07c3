//! Container networking over route netlink: links (veth, macvlan, ipvlan,
//! bridge, dummy), moving them between network namespaces, addresses,
//! routes and namespaced sysctls — over one blocking `NETLINK_ROUTE`
//! socket with messages from `netlink-packet-route`, never by forking `ip`.
//!
//! A [`Netlink`] is bound to the network namespace it was opened in;
//! [`Netlink::in_namespace`] opens one for another namespace through a
//! long-lived helper thread that enters it and returns, so the caller's
//! thread never switches.
//! With the feature `rtnetlink`, `rtnetlink_in` gives an async
//! `rtnetlink::Handle` bound to another namespace the same way; with the
//! feature `tokio`, `AsyncNetlink` runs this crate's requests from async
//! code on Tokio's blocking pool.
//! Kernel refusals keep the errno and the kernel's extended-ACK text; a
//! link kind the kernel lacks is [`Error::Unsupported`].
//!
//! A container's veth network is one call, [`Netlink::wire_veth`], which
//! makes the fewest requests the kernel allows (three datagrams; the peer
//! born in the container's namespace as `eth0`):
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use palisade_netlink::{Netlink, VethWiring};
//! let netns = std::fs::File::open("/proc/1234/ns/net")?; // the container's
//! let wiring = VethWiring::new("ph0", "eth0")
//!     .host_address("10.88.0.1/24".parse()?)
//!     .address("10.88.0.2/24".parse()?)
//!     .gateway("10.88.0.1".parse()?);
//! Netlink::new()?.wire_veth(&wiring, netns.as_fd())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same, step by step (one request each):
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! use palisade_netlink::{Netlink, Route, Veth};
//! let netns = std::fs::File::open("/proc/1234/ns/net").unwrap(); // the container's
//! let mut host = Netlink::new()?;
//! // The peer is born inside the container as eth0.
//! host.add_link(&Veth::new("ph0", "eth0").peer_netns(netns.as_fd()).up().into())?;
//! host.add_address("ph0", "10.88.0.1/24".parse()?)?;
//! let mut inside = Netlink::in_namespace(&netns)?;
//! inside.add_address("eth0", "10.88.0.2/24".parse()?)?;
//! inside.set_up("eth0")?;
//! inside.loopback_up()?;
//! inside.add_route(&Route::default_via("10.88.0.1".parse().unwrap()).dev("eth0"))?;
//! # Ok::<(), palisade_netlink::Error>(())
//! ```

mod addr;
mod address;
#[cfg(feature = "tokio")]
mod asynchronous;
mod error;
#[cfg(feature = "rtnetlink")]
mod interop;
mod link;
mod nsworker;
mod route;
mod socket;
mod sysctl;
mod wiring;

pub use addr::{IpCidr, check_ifname};
pub use address::Address;
#[cfg(feature = "tokio")]
pub use asynchronous::AsyncNetlink;
pub use error::{Error, Result};
#[cfg(feature = "rtnetlink")]
pub use interop::{RtnetlinkConnection, rtnetlink_in};
pub use link::{IpvlanFlag, IpvlanMode, Link, LinkSpec, MacvlanMode, Veth};
pub use route::Route;
pub use socket::{Netlink, RECEIVE_TIMEOUT};
pub use sysctl::{get_sysctl, set_sysctl};
pub use wiring::VethWiring;
