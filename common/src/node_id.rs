//! Node identifiers: 48-bit MAC addresses.

use std::fmt;
use std::str::FromStr;

/// A node id. By default the MAC address of the node's radio interface.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 6]);

impl NodeId {
    /// The Ethernet broadcast address, used as destination of flooded frames.
    pub const BROADCAST: NodeId = NodeId([0xff; 6]);

    pub fn from_slice(b: &[u8]) -> NodeId {
        let mut id = [0u8; 6];
        id.copy_from_slice(&b[..6]);
        NodeId(id)
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group (multicast/broadcast) addresses, which are never valid node ids.
    pub fn is_group(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error for a string that is not `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNodeIdError;

impl fmt::Display for ParseNodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address like 02:00:00:00:00:01")
    }
}

impl std::error::Error for ParseNodeIdError {}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or(ParseNodeIdError)?;
            if p.len() != 2 {
                return Err(ParseNodeIdError);
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| ParseNodeIdError)?;
        }
        if parts.next().is_some() {
            return Err(ParseNodeIdError);
        }
        Ok(NodeId(out))
    }
}

impl serde::Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = NodeId([0x02, 0, 0, 0xab, 0xcd, 0x01]);
        assert_eq!(id.to_string(), "02:00:00:ab:cd:01");
        assert_eq!("02:00:00:ab:cd:01".parse::<NodeId>().unwrap(), id);
    }

    #[test]
    fn rejects_bad_strings() {
        for s in [
            "",
            "02:00",
            "02:00:00:00:00:01:02",
            "zz:00:00:00:00:01",
            "2:0:0:0:0:1",
        ] {
            assert!(s.parse::<NodeId>().is_err(), "{s}");
        }
    }
}
