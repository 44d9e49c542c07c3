//! Addresses with prefix lengths, and interface-name checks.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::{Error, Result};

/// An IP address with a prefix length: `10.88.0.2/24`, `fd00::2/64`.
///
/// ```
/// use palisade_netlink::IpCidr;
/// let c: IpCidr = "10.88.0.2/24".parse()?;
/// assert_eq!(c.prefix, 24);
/// assert_eq!(c.broadcast().unwrap().to_string(), "10.88.0.255");
/// assert!("10.0.0.1/33".parse::<IpCidr>().is_err());
/// # Ok::<(), palisade_netlink::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IpCidr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (0..=32 for v4, 0..=128 for v6).
    pub prefix: u8,
}

impl IpCidr {
    /// `addr/prefix`, checked.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpCidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::Invalid {
                what: "prefix length",
                value: format!("{addr}/{prefix}"),
            });
        }
        Ok(IpCidr { addr, prefix })
    }

    /// The IPv4 broadcast address of the network (none for v6 or /31, /32).
    pub fn broadcast(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix < 31 => {
                let host_bits = 32 - self.prefix as u32;
                Some((u32::from(a) | ((1u32 << host_bits) - 1)).into())
            }
            _ => None,
        }
    }
}

impl FromStr for IpCidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<IpCidr> {
        let bad = || Error::Invalid {
            what: "address/prefix",
            value: s.to_owned(),
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        IpCidr::new(addr, prefix)
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Checks an interface name as the kernel does (`dev_valid_name`): 1..=15
/// bytes, not `.` or `..`, no `/`, `:` or whitespace.
///
/// ```
/// assert!(palisade_netlink::check_ifname("eth0").is_ok());
/// assert!(palisade_netlink::check_ifname("sixteen-chars-xx").is_err());
/// ```
pub fn check_ifname(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 15 {
        return bad("longer than 15 bytes (IFNAMSIZ - 1)");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are reserved");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || kernel_isspace(b) || b == 0)
    {
        return bad(
            "contains '/', ':', whitespace (as the kernel's isspace: \\t \\n \\v \\f \\r, space, byte 0xa0) or NUL",
        );
    }
    Ok(())
}

/// The kernel's `isspace` (lib/ctype.c): 0x09..=0x0d, space, and 0xa0
/// (Latin-1 no-break space), which is also the second byte of UTF-8
/// characters such as U+00A0 and `à`.
fn kernel_isspace(b: u8) -> bool {
    matches!(b, 0x09..=0x0d | b' ' | 0xa0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_refused_for_every_byte_the_kernels_isspace_knows() {
        for bad in [
            "a\tb",
            "a\nb",
            "a\x0bb",
            "a\x0cb",
            "a\rb",
            "a b",
            "a\u{a0}b",
            "\u{e0}",
            "a/b",
            "a:b",
            "a\0b",
            "",
            ".",
            "..",
            "sixteen-chars-xx",
        ] {
            assert!(
                matches!(check_ifname(bad), Err(Error::InvalidName { .. })),
                "{bad:?} passed"
            );
        }
        for good in [
            "eth0",
            "ph-1.2_x",
            "...",
            "fifteen-chars-x",
            "\u{e9}t\u{e9}",
        ] {
            check_ifname(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }
}
