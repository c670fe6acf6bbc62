//! Just enough IP header reading to route a packet (version and
//! destination) and to tell its flow from others.

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

/// The DSCP of an IPv4 or IPv6 packet (the traffic class's upper six
/// bits), `None` if the bytes are not one.
pub fn dscp(packet: &[u8]) -> Option<u8> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(packet[1] >> 2),
        6 if packet.len() >= 40 => Some(((packet[0] & 0x0f) << 2) | (packet[1] >> 6)),
        _ => None,
    }
}

/// A hash of the packet's flow: source and destination address and the
/// protocol (IPv4) or first next header (IPv6). Ports are left out on
/// purpose: a fragmented datagram's later fragments carry none, so a
/// ports-aware hash would split one datagram over two flows. All packets of
/// one connection hash alike; different flows rarely do (a caller that
/// keeps order per flow must treat a collision as the same flow). `None` if
/// the bytes are not an IPv4 or IPv6 packet.
pub fn flow_hash(packet: &[u8]) -> Option<u32> {
    let (addrs, proto) = match packet.first()? >> 4 {
        4 if packet.len() >= 20 => (&packet[12..20], packet[9]),
        6 if packet.len() >= 40 => (&packet[8..40], packet[6]),
        _ => return None,
    };
    // FNV-1a: a few bytes, no allocation, no key (order, not security).
    let mut h: u32 = 0x811c_9dc5;
    for &b in addrs.iter().chain(&[proto]) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    Some(h)
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

/// The network address of `p`: its address with the host bits cleared.
pub fn network(p: &IpPrefix) -> IpAddr {
    match p.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - p.len as u32).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - p.len as u32).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// An interface address with its prefix length, e.g. `10.42.0.2/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

impl<'de> serde::Deserialize<'de> for IpPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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

    fn v4(proto: u8, src: u8, sport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 0, 0, src]);
        p[16..20].copy_from_slice(&[10, 0, 0, 9]);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p
    }

    #[test]
    fn flow_hash_tells_flows_apart_and_keeps_one_flow_together() {
        let tcp = flow_hash(&v4(6, 1, 40000)).unwrap();
        // Same flow, longer packet, other port: same hash.
        let mut longer = v4(6, 1, 40001);
        longer.extend_from_slice(&[0xab; 1000]);
        assert_eq!(flow_hash(&longer), Some(tcp));
        assert_ne!(flow_hash(&v4(6, 2, 40000)), Some(tcp), "source address");
        assert_ne!(flow_hash(&v4(17, 1, 40000)), Some(tcp), "protocol");
        // The fragments of one datagram hash alike.
        let mut first = v4(17, 1, 40000);
        first[6] = 0x20; // more fragments
        let mut later = v4(17, 1, 7);
        later[7] = 20; // offset, no ports
        assert_eq!(flow_hash(&first), flow_hash(&later));
        let mut v6 = vec![0u8; 44];
        v6[0] = 0x60;
        v6[6] = 17;
        v6[8] = 1;
        let a = flow_hash(&v6).unwrap();
        v6[8] = 2;
        assert_ne!(flow_hash(&v6), Some(a));
        assert_eq!(flow_hash(&v6[..39]), None);
        assert_eq!(flow_hash(&[]), None);
        assert_eq!(flow_hash(&[0x45; 19]), None);
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
