//! Just enough IP header reading to route a packet: version and destination.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Destination address of an IPv4 or IPv6 packet, `None` if the packet is
/// too short or not IP.
pub fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let b: [u8; 4] = packet[16..20].try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 if packet.len() >= 40 => {
            let b: [u8; 16] = packet[24..40].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Whether a destination is delivered to every neighbour rather than routed:
/// IPv4 limited/subnet broadcast is recognised by the caller's prefixes, this
/// covers the address-only cases (multicast, 255.255.255.255).
pub fn is_group(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// An interface address with its prefix length, e.g. `10.42.0.2/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpPrefix { addr, len })
    }

    /// The subnet's directed broadcast address (IPv4 only, prefix < 31).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) if self.len < 31 => {
                let host_mask = u32::MAX >> self.len;
                Some(IpAddr::V4(Ipv4Addr::from(u32::from(a) | host_mask)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for IpPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not ADDRESS/PREFIXLEN"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let len: u8 = l
            .parse()
            .map_err(|_| format!("`{l}` is not a prefix length"))?;
        IpPrefix::new(addr, len).ok_or_else(|| {
            format!(
                "prefix length {len} is out of range (0..={})",
                if addr.is_ipv4() { 32 } else { 128 }
            )
        })
    }
}

impl serde::Serialize for IpPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v4_and_v6_destinations() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(destination(&v4), Some("10.0.0.9".parse().unwrap()));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[39] = 1;
        assert_eq!(destination(&v6), Some("::1".parse().unwrap()));
        assert_eq!(destination(&v6[..39]), None);
        assert_eq!(destination(&[]), None);
        assert_eq!(destination(&[0x50; 40]), None);
    }

    #[test]
    fn prefix_parse_and_broadcast() {
        let p: IpPrefix = "10.42.0.2/24".parse().unwrap();
        assert_eq!(p.broadcast(), Some("10.42.0.255".parse().unwrap()));
        assert!("10.0.0.1/33".parse::<IpPrefix>().is_err());
        assert!("fd00::1".parse::<IpPrefix>().is_err());
        assert!("fd00::1/64"
            .parse::<IpPrefix>()
            .unwrap()
            .broadcast()
            .is_none());
    }
}
