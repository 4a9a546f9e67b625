//! IP addresses a source must not reach unless admin names them: the server's own loopback,
//! link-local and cloud metadata addresses, and addresses that are no host at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address and a prefix length (`10.1.0.0/16`; a bare address is `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Whether every address of this network is one of the [`special`] kind: only a grant
    /// that names such addresses by themselves (`127.0.0.1`, `169.254.0.0/16`) opens them;
    /// `0.0.0.0/0` does not.
    pub fn is_special(&self) -> bool {
        SPECIAL_V4
            .iter()
            .chain(SPECIAL_V6)
            .any(|outer| outer.covers(self))
    }

    fn covers(&self, inner: &IpNet) -> bool {
        self.prefix <= inner.prefix && self.contains(inner.addr)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = canonical(
            IpAddr::from_str(addr.trim_start_matches('[').trim_end_matches(']'))
                .map_err(|_| format!("{text:?} is not an IP address or network"))?,
        );
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => full,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= full)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {full}"))?,
        };
        let net = IpNet { addr, prefix };
        if !net.contains(addr) || net.network() != addr {
            return Err(format!(
                "{text:?} has host bits set; write the network as {}",
                net.network()
            ));
        }
        Ok(net)
    }
}

impl IpNet {
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet {
        addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
    }
}

const fn v6(segments: [u16; 8], prefix: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet {
        addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        prefix,
    }
}

/// Addresses that reach the server itself, its link, a cloud's metadata service, or nothing.
const SPECIAL_V4: &[IpNet] = &[
    v4(0, 0, 0, 0, 8),          // "this network"; 0.0.0.0 reaches the server itself
    v4(127, 0, 0, 0, 8),        // loopback
    v4(169, 254, 0, 0, 16),     // link-local, with 169.254.169.254 (AWS, OpenStack, …)
    v4(100, 100, 100, 200, 32), // Alibaba Cloud's metadata service
    v4(192, 0, 0, 0, 24),       // IETF protocol assignments (192.0.0.192 is Oracle's metadata)
    v4(224, 0, 0, 0, 4),        // multicast
    v4(240, 0, 0, 0, 4),        // reserved, and the broadcast address
];
const SPECIAL_V6: &[IpNet] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 127),     // unspecified and loopback
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    v6([0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254], 128), // AWS's metadata service over IPv6
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),  // multicast
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64, which maps every IPv4 address
];

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is the IPv4 address: the socket it
/// opens goes there.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `addr` is one a source may reach only where admin names it.
pub fn special(addr: IpAddr) -> bool {
    let addr = canonical(addr);
    SPECIAL_V4
        .iter()
        .chain(SPECIAL_V6)
        .any(|net| net.contains(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_servers_own_and_metadata_addresses_are_special() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "169.254.169.254",
            "100.100.100.200",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "64:ff9b::7f00:1",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(special(ip(text)), "{text}");
        }
        for text in [
            "10.1.2.3",
            "192.168.1.10",
            "8.8.8.8",
            "172.16.0.1",
            "2001:db8::1",
        ] {
            assert!(!special(ip(text)), "{text}");
        }
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        assert!(!net.is_special());
        assert!("10.1.0.1/16".parse::<IpNet>().is_err());
        assert!("10.1.0.0/33".parse::<IpNet>().is_err());
        assert!("db.example".parse::<IpNet>().is_err());
        let everything: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("127.0.0.1")));
        assert!(!everything.is_special(), "0.0.0.0/0 must not open loopback");
        assert!("127.0.0.1".parse::<IpNet>().unwrap().is_special());
        assert!("::1".parse::<IpNet>().unwrap().is_special());
        assert!("169.254.0.0/16".parse::<IpNet>().unwrap().is_special());
        assert_eq!("[::1]".parse::<IpNet>().unwrap().to_string(), "::1");
    }
}
