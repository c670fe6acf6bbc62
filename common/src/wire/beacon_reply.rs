//! BeaconReply body: OBU → RSU, hop by hop along the chosen upstream.

use super::cert::{CertRepr, CERT_LEN};
use super::{be_u32, be_u64, Result, WireError};
use crate::ip::IpPrefix;
use crate::NodeId;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    use std::ops::Range;
    pub const OBU: Range<usize> = 0..6;
    pub const RSU: Range<usize> = 6..12;
    pub const SEQ: Range<usize> = 12..16;
    pub const TIMESTAMP: Range<usize> = 16..24;
    pub const HOPS: usize = 24;
    pub const ADDR_COUNT: usize = 25;
    pub const ADDRS: usize = 26;
    // Each address entry: family (4 or 6), prefix length, address bytes.
    pub const ENTRY_FAMILY: usize = 0;
    pub const ENTRY_PREFIX: usize = 1;
    pub const ENTRY_ADDR: usize = 2;
    // After the address list (absent in replies of older nodes: 0, 0;
    // the parent and link quality are absent in 5-byte extensions).
    pub const EXT_ATTACH_SEQ: std::ops::Range<usize> = 0..4;
    pub const EXT_FLAGS: usize = 4;
    pub const EXT_V1_LEN: usize = 5;
    pub const EXT_PARENT: std::ops::Range<usize> = 5..11;
    pub const EXT_QUALITY: usize = 11;
    pub const EXT_LEN: usize = 12;
}

/// Reply flag: the OBU has left this RSU for another (make-before-break
/// handover): the RSU withdraws the OBU's routes at once.
pub const REPLY_FLAG_LEAVING: u8 = 0x01;

/// Fixed part of the body before the address list.
pub const BODY_FIXED_LEN: usize = field::ADDRS;
/// Most addresses one reply carries.
pub const MAX_ADDRS: usize = 16;

/// A fixed-capacity list of addresses (no heap allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddrList {
    len: u8,
    items: [IpPrefix; MAX_ADDRS],
}

impl Default for AddrList {
    fn default() -> Self {
        AddrList {
            len: 0,
            items: [IpPrefix {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                len: 0,
            }; MAX_ADDRS],
        }
    }
}

impl AddrList {
    /// Builds a list; `None` if there are more than [`MAX_ADDRS`].
    pub fn from_slice(addrs: &[IpPrefix]) -> Option<AddrList> {
        if addrs.len() > MAX_ADDRS {
            return None;
        }
        let mut l = AddrList::default();
        l.items[..addrs.len()].copy_from_slice(addrs);
        l.len = addrs.len() as u8;
        Some(l)
    }
    pub fn as_slice(&self) -> &[IpPrefix] {
        &self.items[..self.len as usize]
    }
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn push(&mut self, p: IpPrefix) -> bool {
        if self.len() == MAX_ADDRS {
            return false;
        }
        self.items[self.len()] = p;
        self.len += 1;
        true
    }
}

impl std::fmt::Debug for AddrList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

fn entry_len(addr: &IpAddr) -> usize {
    field::ENTRY_ADDR + if addr.is_ipv4() { 4 } else { 16 }
}

/// Checked view of a beacon-reply body.
pub struct BeaconReply<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BeaconReply<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < BODY_FIXED_LEN {
            return Err(WireError::Truncated);
        }
        Ok(BeaconReply { buffer })
    }
    pub fn obu(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::OBU])
    }
    pub fn rsu(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::RSU])
    }
    pub fn seq(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEQ])
    }
    pub fn timestamp_us(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::TIMESTAMP])
    }
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::ADDR_COUNT]
    }
    /// Raw address entries (checked by [`BeaconReplyRepr::parse`]).
    pub fn addr_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ADDRS..]
    }
}

/// Parsed beacon reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconReplyRepr {
    pub obu: NodeId,
    pub rsu: NodeId,
    /// Sequence of the beacon being answered.
    pub seq: u32,
    /// The beacon's RSU timestamp, echoed so the RSU measures RTT on its own clock.
    pub timestamp_us: u64,
    /// The OBU's distance from the RSU in hops (1 = direct neighbour).
    pub hops: u8,
    /// The OBU's TUN addresses.
    pub addrs: AddrList,
    /// The OBU's attachment sequence: grows with every change of RSU, so
    /// the backbone prefers the newest attachment.
    pub attach_seq: u32,
    /// The OBU left this RSU (attached to another, whose attachment is
    /// `attach_seq`).
    pub leaving: bool,
    /// Secure modes: the OBU's current certificate from an RSU, so relays
    /// can accept the route under a certified key (after the extension;
    /// absent until the OBU has one).
    pub cert: Option<CertRepr>,
    /// The OBU's upstream next hop (its parent in the RSU's tree; the RSU
    /// itself for a direct neighbour), for the topology view.
    pub parent: NodeId,
    /// How well the OBU hears beacons through that parent, percent.
    pub quality_pct: u8,
}

impl BeaconReplyRepr {
    pub fn parse<T: AsRef<[u8]>>(r: &BeaconReply<T>) -> Result<BeaconReplyRepr> {
        let count = r.addr_count() as usize;
        if count > MAX_ADDRS {
            return Err(WireError::Malformed);
        }
        let (obu, rsu) = (r.obu(), r.rsu());
        if obu.is_group() || rsu.is_group() {
            return Err(WireError::Malformed);
        }
        let mut addrs = AddrList::default();
        let mut rest = r.addr_bytes();
        for _ in 0..count {
            if rest.len() < field::ENTRY_ADDR {
                return Err(WireError::Truncated);
            }
            let prefix = rest[field::ENTRY_PREFIX];
            let addr_len = match rest[field::ENTRY_FAMILY] {
                4 => 4,
                6 => 16,
                _ => return Err(WireError::Malformed),
            };
            let a = rest
                .get(field::ENTRY_ADDR..field::ENTRY_ADDR + addr_len)
                .ok_or(WireError::Truncated)?;
            let addr = if addr_len == 4 {
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
            } else {
                let mut b = [0u8; 16];
                b.copy_from_slice(a);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let p = IpPrefix::new(addr, prefix).ok_or(WireError::Malformed)?;
            addrs.push(p);
            rest = &rest[field::ENTRY_ADDR + addr_len..];
        }
        let mut cert = None;
        if rest.len() == field::EXT_LEN + CERT_LEN {
            cert = Some(CertRepr::parse(&rest[field::EXT_LEN..])?);
            rest = &rest[..field::EXT_LEN];
        }
        let (attach_seq, leaving) = match rest.len() {
            0 => (0, false),
            field::EXT_V1_LEN | field::EXT_LEN => {
                let flags = rest[field::EXT_FLAGS];
                if flags & !REPLY_FLAG_LEAVING != 0 {
                    return Err(WireError::Malformed);
                }
                (
                    be_u32(&rest[field::EXT_ATTACH_SEQ]),
                    flags & REPLY_FLAG_LEAVING != 0,
                )
            }
            _ => return Err(WireError::Malformed),
        };
        let (parent, quality_pct) = if rest.len() == field::EXT_LEN {
            let q = rest[field::EXT_QUALITY];
            if q > 100 {
                return Err(WireError::Malformed);
            }
            (NodeId::from_slice(&rest[field::EXT_PARENT]), q)
        } else {
            (NodeId::default(), 0)
        };
        Ok(BeaconReplyRepr {
            obu,
            rsu,
            seq: r.seq(),
            timestamp_us: r.timestamp_us(),
            hops: r.hops(),
            addrs,
            attach_seq,
            leaving,
            cert,
            parent,
            quality_pct,
        })
    }

    pub fn body_len(&self) -> usize {
        BODY_FIXED_LEN
            + self
                .addrs
                .as_slice()
                .iter()
                .map(|p| entry_len(&p.addr))
                .sum::<usize>()
            + field::EXT_LEN
            + if self.cert.is_some() { CERT_LEN } else { 0 }
    }

    /// Writes the body; `buf` must be at least `body_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::OBU].copy_from_slice(self.obu.as_bytes());
        buf[field::RSU].copy_from_slice(self.rsu.as_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::TIMESTAMP].copy_from_slice(&self.timestamp_us.to_be_bytes());
        buf[field::HOPS] = self.hops;
        buf[field::ADDR_COUNT] = self.addrs.len() as u8;
        let mut off = field::ADDRS;
        for p in self.addrs.as_slice() {
            let e = &mut buf[off..off + entry_len(&p.addr)];
            e[field::ENTRY_PREFIX] = p.len;
            match p.addr {
                IpAddr::V4(a) => {
                    e[field::ENTRY_FAMILY] = 4;
                    e[field::ENTRY_ADDR..].copy_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    e[field::ENTRY_FAMILY] = 6;
                    e[field::ENTRY_ADDR..].copy_from_slice(&a.octets());
                }
            }
            off += e.len();
        }
        let ext = &mut buf[off..off + field::EXT_LEN];
        ext[field::EXT_ATTACH_SEQ].copy_from_slice(&self.attach_seq.to_be_bytes());
        ext[field::EXT_FLAGS] = if self.leaving { REPLY_FLAG_LEAVING } else { 0 };
        ext[field::EXT_PARENT].copy_from_slice(self.parent.as_bytes());
        ext[field::EXT_QUALITY] = self.quality_pct.min(100);
        if let Some(c) = &self.cert {
            let at = off + field::EXT_LEN;
            c.emit(&mut buf[at..at + CERT_LEN]);
        }
    }
}
