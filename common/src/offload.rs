//! TUN offload, without I/O: the virtio-net header that rides in front of
//! every TUN packet when IFF_VNET_HDR is on, cutting a TCP super-packet
//! (TSO/GSO) into link-MTU segments, and coalescing consecutive TCP
//! segments of one flow into a super-packet for a single TUN write (GRO).
//!
//! Segments are produced as (header bytes, payload range) pairs so the
//! payload is sent from where it lies; coalescing likewise only rewrites
//! the first segment's headers.

use std::ops::Range;

/// `struct virtio_net_hdr` (without `num_buffers`), in native byte order as
/// the TUN driver uses it by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

pub const VNET_HDR_LEN: usize = 10;
pub const VNET_F_NEEDS_CSUM: u8 = 1;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;
/// Most datagrams the kernel accepts in one UDP GSO packet (UDP_MAX_SEGMENTS).
pub const UDP_MAX_SEGMENTS: usize = 64;
pub const GSO_ECN: u8 = 0x80;

impl VnetHdr {
    pub fn parse(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        }
    }

    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    pub fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }
}

/// Why a packet could not be offload-processed (it is dropped and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadError {
    /// Headers shorter than they claim, or not TCP/IP where GSO says so.
    Malformed,
    /// A GSO type this build does not split (e.g. UDP).
    Unsupported,
    /// A segment does not fit a link frame.
    TooBig,
}

/// Adds `v` to a ones'-complement accumulator, carrying the overflow.
pub fn add(acc: u64, v: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(v);
    s + carry as u64
}

/// Ones'-complement sum of `data` added to `acc` (not folded).
pub fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc = add(
            acc,
            u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        );
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc = add(acc, u16::from_be_bytes([rest[i], rest[i + 1]]) as u64);
        i += 2;
    }
    if i < rest.len() {
        acc = add(acc, (rest[i] as u64) << 8);
    }
    acc
}

/// Folds a 64-bit ones'-complement accumulator to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Where the IP and TCP headers of a packet are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeaders {
    pub v6: bool,
    pub ip_len: usize,
    pub tcp_len: usize,
}

impl TcpHeaders {
    pub fn hdr_len(&self) -> usize {
        self.ip_len + self.tcp_len
    }
}

/// Finds the IP and TCP headers of a TCP/IP packet (no IPv6 extension headers).
pub fn tcp_headers(p: &[u8]) -> Option<TcpHeaders> {
    let (v6, ip_len) = match p.first()? >> 4 {
        4 => {
            let ihl = (p[0] & 0x0f) as usize * 4;
            if ihl < 20 || p.len() < ihl || p[9] != 6 {
                return None;
            }
            (false, ihl)
        }
        6 => {
            if p.len() < 40 || p[6] != 6 {
                return None;
            }
            (true, 40)
        }
        _ => return None,
    };
    let tcp_len = (*p.get(ip_len + 12)? >> 4) as usize * 4;
    if tcp_len < 20 || p.len() < ip_len + tcp_len {
        return None;
    }
    Some(TcpHeaders {
        v6,
        ip_len,
        tcp_len,
    })
}

fn pseudo_sum(p: &[u8], h: &TcpHeaders, l4_len: usize) -> u64 {
    let (addrs, proto) = if h.v6 {
        (&p[8..40], 6)
    } else {
        (&p[12..20], 6)
    };
    add(add(sum(0, addrs), proto), l4_len as u64)
}

/// Whether a TCP or UDP packet's transport checksum verifies (so that
/// coalescing never launders a corrupted segment).
pub fn l4_checksum_ok(p: &[u8], v6: bool, ip_len: usize, proto: u8) -> bool {
    let Some(l4) = p.get(ip_len..) else {
        return false;
    };
    let addrs = if v6 { p.get(8..40) } else { p.get(12..20) };
    let Some(addrs) = addrs else { return false };
    let acc = add(add(sum(0, addrs), proto as u64), l4.len() as u64);
    fold(sum(acc, l4)) == 0xffff
}

fn ipv4_header_checksum(h: &mut [u8]) {
    h[10] = 0;
    h[11] = 0;
    let c = !fold(sum(0, h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Completes a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM):
/// the ones'-complement of the sum from `csum_start` to the end, stored at
/// `csum_start + csum_offset`.
pub fn complete_checksum(
    p: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
) -> Result<(), OffloadError> {
    let at = csum_start + csum_offset;
    if at + 2 > p.len() {
        return Err(OffloadError::Malformed);
    }
    let c = !fold(sum(0, &p[csum_start..]));
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;
const TCP_CWR: u8 = 0x80;

/// Cuts a TCP super-packet into segments of at most `gso_size` payload bytes.
pub struct Segmenter<'a> {
    packet: &'a [u8],
    h: TcpHeaders,
    mss: usize,
    next: usize,
    index: u16,
}

impl<'a> Segmenter<'a> {
    pub fn new(packet: &'a [u8], gso_size: u16) -> Result<Segmenter<'a>, OffloadError> {
        let h = tcp_headers(packet).ok_or(OffloadError::Malformed)?;
        if gso_size == 0 {
            return Err(OffloadError::Malformed);
        }
        Ok(Segmenter {
            packet,
            h,
            mss: gso_size as usize,
            next: h.hdr_len(),
            index: 0,
        })
    }

    /// IP + TCP header bytes of every segment.
    pub fn header_len(&self) -> usize {
        self.h.hdr_len()
    }

    /// Number of segments.
    pub fn count(&self) -> usize {
        (self.packet.len() - self.h.hdr_len())
            .div_ceil(self.mss)
            .max(1)
    }

    /// Writes the next segment's IP + TCP headers into `hdr` (exactly
    /// `header_len()` bytes) and returns its payload range in the packet.
    pub fn next_into(&mut self, hdr: &mut [u8]) -> Option<Range<usize>> {
        let p = self.packet;
        let hl = self.h.hdr_len();
        if self.next >= p.len() && !(self.index == 0 && p.len() == hl) {
            return None;
        }
        let start = self.next;
        let end = (start + self.mss).min(p.len());
        let last = end == p.len();
        let seg_len = end - start;
        hdr[..hl].copy_from_slice(&p[..hl]);
        let (ip, tcp) = hdr[..hl].split_at_mut(self.h.ip_len);
        if self.h.v6 {
            ip[4..6].copy_from_slice(&((self.h.tcp_len + seg_len) as u16).to_be_bytes());
        } else {
            ip[2..4].copy_from_slice(&((hl + seg_len) as u16).to_be_bytes());
            let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(self.index);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ipv4_header_checksum(ip);
        }
        let off = (start - hl) as u32;
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]).wrapping_add(off);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        if !last {
            tcp[13] &= !(TCP_FIN | TCP_PSH);
        }
        if self.index > 0 {
            tcp[13] &= !TCP_CWR;
        }
        tcp[16] = 0;
        tcp[17] = 0;
        let l4 = self.h.tcp_len + seg_len;
        let acc = pseudo_sum(p, &self.h, l4);
        let acc = sum(acc, tcp);
        let acc = sum(acc, &p[start..end]);
        tcp[16..18].copy_from_slice(&(!fold(acc)).to_be_bytes());
        self.next = end.max(start + 1);
        self.index += 1;
        Some(start..end)
    }
}

/// What identifies a TCP segment for coalescing, read from its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub h: TcpHeaders,
    pub seq: u32,
    pub payload_len: usize,
    pub flags: u8,
}

/// Reads coalescing facts of a TCP packet, `None` if it must go alone.
pub fn segment_info(p: &[u8]) -> Option<SegmentInfo> {
    let h = tcp_headers(p)?;
    let total = if h.v6 {
        40 + u16::from_be_bytes([p[4], p[5]]) as usize
    } else {
        if h.ip_len != 20 || u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
            return None; // IP options or a fragment
        }
        u16::from_be_bytes([p[2], p[3]]) as usize
    };
    if total != p.len() || total <= h.hdr_len() {
        return None; // padding, or no payload
    }
    let t = &p[h.ip_len..];
    let flags = t[13];
    if flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR) != 0
        || flags & TCP_ACK == 0
    {
        return None;
    }
    Some(SegmentInfo {
        h,
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        payload_len: total - h.hdr_len(),
        flags,
    })
}

/// Whether `next` continues the run that starts with `first` (headers
/// equal except what segmentation changes) after `run_bytes` of payload.
pub fn continues(
    first: &[u8],
    fi: &SegmentInfo,
    run_bytes: usize,
    next: &[u8],
    ni: &SegmentInfo,
) -> bool {
    if ni.h != fi.h || ni.payload_len > fi.payload_len || fi.flags & TCP_PSH != 0 {
        return false;
    }
    if ni.seq != fi.seq.wrapping_add(run_bytes as u32)
        || run_bytes + ni.payload_len + fi.h.hdr_len() > 65535
    {
        return false;
    }
    let (a, b) = (&first[..fi.h.hdr_len()], &next[..fi.h.hdr_len()]);
    let ip_same = if fi.h.v6 {
        a[..4] == b[..4] && a[6..40] == b[6..40]
    } else {
        // version/ihl/tos, flags/frag, ttl/proto, addresses (not id/len/csum)
        a[0..2] == b[0..2] && a[6..10] == b[6..10] && a[12..20] == b[12..20]
    };
    let (ta, tb) = (&a[fi.h.ip_len..], &b[fi.h.ip_len..]);
    // ports, ack, data offset, window, urgent pointer and options
    ip_same
        && ta[0..4] == tb[0..4]
        && ta[8..13] == tb[8..13]
        && ta[13] & !TCP_PSH == tb[13] & !TCP_PSH
        && ta[14..16] == tb[14..16]
        && ta[18..] == tb[18..]
}

/// Rewrites `hdr` (a copy of the first segment's IP + TCP headers) for a
/// super-packet of `payload_total` bytes and returns its virtio-net header
/// (GSO, checksum left partial for the kernel).
pub fn coalesced_header(
    hdr: &mut [u8],
    fi: &SegmentInfo,
    payload_total: usize,
    psh: bool,
) -> VnetHdr {
    let hl = fi.h.hdr_len();
    let (ip, tcp) = hdr[..hl].split_at_mut(fi.h.ip_len);
    if fi.h.v6 {
        ip[4..6].copy_from_slice(&((fi.h.tcp_len + payload_total) as u16).to_be_bytes());
    } else {
        ip[2..4].copy_from_slice(&((hl + payload_total) as u16).to_be_bytes());
        ipv4_header_checksum(ip);
    }
    if psh {
        tcp[13] |= TCP_PSH;
    }
    let l4 = fi.h.tcp_len + payload_total;
    let pseudo = {
        // The pseudo header reads the addresses from the IP header.
        let mut tmp = [0u8; 40];
        tmp[..ip.len()].copy_from_slice(ip);
        pseudo_sum(&tmp, &fi.h, l4)
    };
    tcp[16..18].copy_from_slice(&fold(pseudo).to_be_bytes());
    VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: if fi.h.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: hl as u16,
        gso_size: fi.payload_len as u16,
        csum_start: fi.h.ip_len as u16,
        csum_offset: 16,
    }
}

/// Coalescing facts of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpInfo {
    pub v6: bool,
    pub ip_len: usize,
    pub payload_len: usize,
}

impl UdpInfo {
    pub fn hdr_len(&self) -> usize {
        self.ip_len + 8
    }
}

/// Reads a UDP datagram's facts, `None` if it must go alone (not UDP, IP
/// options or fragment, extension headers, padding, empty payload).
pub fn udp_info(p: &[u8]) -> Option<UdpInfo> {
    let (v6, ip_len, total) = match p.first()? >> 4 {
        4 if p.len() >= 28 && p[0] == 0x45 && p[9] == 17 => {
            if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
                return None;
            }
            (false, 20, u16::from_be_bytes([p[2], p[3]]) as usize)
        }
        6 if p.len() >= 48 && p[6] == 17 => {
            (true, 40, 40 + u16::from_be_bytes([p[4], p[5]]) as usize)
        }
        _ => return None,
    };
    let udp_len = u16::from_be_bytes([p[ip_len + 4], p[ip_len + 5]]) as usize;
    if total != p.len() || udp_len != total - ip_len || udp_len <= 8 {
        return None;
    }
    Some(UdpInfo {
        v6,
        ip_len,
        payload_len: udp_len - 8,
    })
}

/// Whether `next` continues a UDP run started by `first` (same flow and IP
/// header fields, not larger than the first), with `count` datagrams and
/// `run_bytes` of payload so far.
pub fn udp_continues(
    first: &[u8],
    fi: &UdpInfo,
    count: usize,
    run_bytes: usize,
    next: &[u8],
    ni: &UdpInfo,
) -> bool {
    if ni.v6 != fi.v6 || ni.payload_len > fi.payload_len || count >= UDP_MAX_SEGMENTS {
        return false;
    }
    if fi.hdr_len() + run_bytes + ni.payload_len > 65535 {
        return false;
    }
    let ip_same = if fi.v6 {
        first[..4] == next[..4] && first[6..40] == next[6..40]
    } else {
        first[0..2] == next[0..2] && first[6..10] == next[6..10] && first[12..20] == next[12..20]
    };
    ip_same && first[fi.ip_len..fi.ip_len + 4] == next[fi.ip_len..fi.ip_len + 4]
}

/// Rewrites `hdr` (a copy of the first datagram's IP + UDP headers) for a
/// UDP GSO super-packet of `payload_total` bytes in datagrams of the first
/// one's size, and returns its virtio-net header.
pub fn udp_coalesced_header(hdr: &mut [u8], fi: &UdpInfo, payload_total: usize) -> VnetHdr {
    let hl = fi.hdr_len();
    let (ip, udp) = hdr[..hl].split_at_mut(fi.ip_len);
    let l4 = 8 + payload_total;
    if fi.v6 {
        ip[4..6].copy_from_slice(&(l4 as u16).to_be_bytes());
    } else {
        ip[2..4].copy_from_slice(&((hl + payload_total) as u16).to_be_bytes());
        ipv4_header_checksum(ip);
    }
    udp[4..6].copy_from_slice(&(l4 as u16).to_be_bytes());
    let addrs = if fi.v6 { &ip[8..40] } else { &ip[12..20] };
    let pseudo = add(add(sum(0, addrs), 17), l4 as u64);
    udp[6..8].copy_from_slice(&fold(pseudo).to_be_bytes());
    VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: GSO_UDP_L4,
        hdr_len: hl as u16,
        gso_size: fi.payload_len as u16,
        csum_start: fi.ip_len as u16,
        csum_offset: 6,
    }
}

/// Most segments coalesced into one TUN write (also bounds the iovecs).
pub const MAX_COALESCE: usize = 64;

/// What one TUN write carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// One packet as it is.
    Single,
    /// Consecutive TCP segments of one flow as one GSO super-packet: the
    /// first segment's headers, the payload bytes of all, and whether the
    /// last had PSH.
    Tcp(SegmentInfo, usize, bool),
    /// Consecutive UDP datagrams of one flow as one UDP GSO super-packet:
    /// the first datagram's headers and the payload bytes of all.
    Udp(UdpInfo, usize),
}

/// One TUN write of the plan: packets `start .. start + count` of the
/// batch, as `kind` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunWrite {
    pub start: usize,
    pub count: usize,
    pub kind: WriteKind,
}

fn tcp_checksum_ok(p: &[u8], i: &SegmentInfo) -> bool {
    l4_checksum_ok(p, i.h.v6, i.h.ip_len, 6)
}

fn udp_checksum_ok(p: &[u8], i: &UdpInfo) -> bool {
    // IPv4 UDP may carry no checksum (0): nothing to launder then.
    let none = !i.v6 && p[i.ip_len + 6] == 0 && p[i.ip_len + 7] == 0;
    none || l4_checksum_ok(p, i.v6, i.ip_len, 17)
}

/// GRO planning: groups the `count` packets to deliver (`packet(k)`) into
/// TUN writes, appended to `out`. With `tcp`, consecutive TCP segments of
/// one flow that continue each other (checksums valid, same headers, up to
/// [`MAX_COALESCE`], ending at a short segment or PSH) become one write;
/// with `udp` likewise for UDP datagrams of one flow. Everything else is a
/// write of its own. The writes cover the packets in order.
pub fn plan_tun_writes<'a>(
    count: usize,
    packet: impl Fn(usize) -> &'a [u8],
    tcp: bool,
    udp: bool,
    out: &mut Vec<TunWrite>,
) {
    let mut i = 0;
    while i < count {
        let start = i;
        let first = packet(i);
        i += 1;
        let mut kind = WriteKind::Single;
        if let Some(fi) = segment_info(first).filter(|f| tcp && tcp_checksum_ok(first, f)) {
            let mut bytes = fi.payload_len;
            let mut psh = false;
            while i < count && i - start < MAX_COALESCE && !psh {
                let next = packet(i);
                let Some(ni) = segment_info(next).filter(|n| tcp_checksum_ok(next, n)) else {
                    break;
                };
                if !continues(first, &fi, bytes, next, &ni) {
                    break;
                }
                bytes += ni.payload_len;
                psh = ni.flags & 0x08 != 0;
                i += 1;
                if ni.payload_len < fi.payload_len {
                    break;
                }
            }
            kind = WriteKind::Tcp(fi, bytes, psh);
        } else if let Some(fi) = udp_info(first).filter(|f| udp && udp_checksum_ok(first, f)) {
            let mut bytes = fi.payload_len;
            while i < count && i - start < MAX_COALESCE {
                let next = packet(i);
                let Some(ni) = udp_info(next).filter(|n| udp_checksum_ok(next, n)) else {
                    break;
                };
                if !udp_continues(first, &fi, i - start, bytes, next, &ni) {
                    break;
                }
                bytes += ni.payload_len;
                i += 1;
                if ni.payload_len < fi.payload_len {
                    break;
                }
            }
            kind = WriteKind::Udp(fi, bytes);
        }
        let count = i - start;
        out.push(TunWrite {
            start,
            count,
            kind: if count > 1 { kind } else { WriteKind::Single },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP/IPv4 or IPv6 packet with `payload` bytes, valid checksums.
    pub fn tcp_packet(v6: bool, seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let ip_len = if v6 { 40 } else { 20 };
        let mut p = vec![0u8; ip_len + 32];
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((32 + payload.len()) as u16).to_be_bytes());
            p[6] = 6;
            p[7] = 64;
            p[8..24].copy_from_slice(&[0xfd, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            p[24..40].copy_from_slice(&[0xfd, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((52 + payload.len()) as u16).to_be_bytes());
            p[4..6].copy_from_slice(&[0x12, 0x34]);
            p[6] = 0x40;
            p[8] = 64;
            p[9] = 6;
            p[12..16].copy_from_slice(&[10, 42, 0, 1]);
            p[16..20].copy_from_slice(&[10, 42, 0, 2]);
            ipv4_header_checksum(&mut p[..20]);
        }
        let t = &mut p[ip_len..];
        t[0..2].copy_from_slice(&5001u16.to_be_bytes());
        t[2..4].copy_from_slice(&40000u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = 8 << 4; // 32-byte header: 12 bytes of options
        t[13] = flags;
        t[14..16].copy_from_slice(&512u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7]); // NOP NOP TS
        p.extend_from_slice(payload);
        let h = tcp_headers(&p).unwrap();
        let l4 = p.len() - ip_len;
        let acc = sum(pseudo_sum(&p, &h, l4), &p[ip_len..]);
        p[ip_len + 16..ip_len + 18].copy_from_slice(&(!fold(acc)).to_be_bytes());
        p
    }

    #[test]
    fn gro_plan_coalesces_a_flow_and_stops_where_it_must() {
        let seg = |seq: u32, len: usize, flags: u8| tcp_packet(false, seq, &vec![7u8; len], flags);
        let mut bad = seg(12_000, 1000, 0x10);
        bad[60] ^= 1;
        let pk = [
            // A run of one flow, ended by a short segment.
            seg(1000, 1000, 0x10),
            seg(2000, 1000, 0x10),
            seg(3000, 1000, 0x10),
            seg(4000, 200, 0x10),
            // Not in sequence with it: a new run, ended by PSH.
            seg(9000, 1000, 0x10),
            seg(10_000, 1000, 0x18),
            // After PSH, alone; a broken checksum is never coalesced.
            seg(11_000, 1000, 0x10),
            bad,
        ];
        let mut w = Vec::new();
        plan_tun_writes(pk.len(), |k| &pk[k], true, false, &mut w);
        let shape: Vec<(usize, usize, usize)> = w
            .iter()
            .map(|x| match x.kind {
                WriteKind::Tcp(_, bytes, _) => (x.start, x.count, bytes),
                _ => (x.start, x.count, 0),
            })
            .collect();
        assert_eq!(
            shape,
            vec![(0, 4, 3200), (4, 2, 2000), (6, 1, 0), (7, 1, 0)]
        );
        assert!(matches!(w[1].kind, WriteKind::Tcp(_, _, true)), "PSH kept");
        // Without TCP coalescing every packet is a write of its own.
        w.clear();
        plan_tun_writes(pk.len(), |k| &pk[k], false, true, &mut w);
        assert_eq!(w.len(), pk.len());
        assert!(w
            .iter()
            .all(|x| x.count == 1 && x.kind == WriteKind::Single));
        // At most MAX_COALESCE segments in one write.
        let long: Vec<Vec<u8>> = (0..MAX_COALESCE as u32 + 5)
            .map(|k| seg(1000 + 100 * k, 100, 0x10))
            .collect();
        w.clear();
        plan_tun_writes(long.len(), |k| &long[k], true, false, &mut w);
        assert_eq!(w[0].count, MAX_COALESCE);
        assert_eq!(w.iter().map(|x| x.count).sum::<usize>(), long.len());
    }

    fn checksums_ok(p: &[u8]) -> bool {
        let h = tcp_headers(p).unwrap();
        let ip_ok = h.v6 || fold(sum(0, &p[..20])) == 0xffff;
        let l4 = p.len() - h.ip_len;
        ip_ok && fold(sum(pseudo_sum(p, &h, l4), &p[h.ip_len..])) == 0xffff
    }

    #[test]
    fn checksum_carries_near_overflow() {
        // An accumulator close to u64::MAX must carry, not wrap or panic.
        let acc = sum(u64::MAX - 1, &[0xff, 0xff, 0xff]);
        assert_eq!(fold(acc), fold(add(add(u64::MAX - 1, 0xffff), 0xff00)));
        let data = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0x12, 0x34];
        let _ = fold(sum(u64::MAX, &data));
    }

    #[test]
    fn verifies_transport_checksums() {
        let p = tcp_packet(false, 5, &[7; 100], TCP_ACK);
        assert!(l4_checksum_ok(&p, false, 20, 6));
        let mut bad = p.clone();
        bad[80] ^= 1;
        assert!(!l4_checksum_ok(&bad, false, 20, 6));
        let p6 = tcp_packet(true, 5, &[7; 99], TCP_ACK);
        assert!(l4_checksum_ok(&p6, true, 40, 6));
    }

    #[test]
    fn checksum_matches_a_known_value() {
        // RFC 1071 example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            fold(sum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])),
            0xddf2
        );
        assert_eq!(fold(sum(0, &[0xff])), 0xff00);
    }

    #[test]
    fn vnet_header_round_trip() {
        let h = VnetHdr {
            flags: 1,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1430,
            csum_start: 20,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.emit()), h);
        assert!(h.is_gso());
    }

    fn split(p: &[u8], mss: u16) -> Vec<Vec<u8>> {
        let mut s = Segmenter::new(p, mss).unwrap();
        let mut out = Vec::new();
        let mut hdr = vec![0u8; s.header_len()];
        while let Some(r) = s.next_into(&mut hdr) {
            let mut seg = hdr.clone();
            seg.extend_from_slice(&p[r]);
            out.push(seg);
        }
        out
    }

    #[test]
    fn segments_have_right_lengths_sequence_and_checksums() {
        for v6 in [false, true] {
            let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
            let sup = tcp_packet(v6, 1000, &payload, TCP_ACK | TCP_PSH);
            let segs = split(&sup, 1400);
            assert_eq!(segs.len(), 8);
            let mut seq = 1000u32;
            let mut joined = Vec::new();
            for (i, s) in segs.iter().enumerate() {
                assert!(checksums_ok(s), "v6={v6} segment {i} checksum");
                let info = tcp_headers(s).unwrap();
                let t = &s[info.ip_len..];
                assert_eq!(u32::from_be_bytes([t[4], t[5], t[6], t[7]]), seq);
                let last = i == segs.len() - 1;
                assert_eq!(t[13] & TCP_PSH != 0, last, "PSH only on the last");
                let plen = s.len() - info.hdr_len();
                assert_eq!(plen, if last { 10_000 - 7 * 1400 } else { 1400 });
                seq = seq.wrapping_add(plen as u32);
                joined.extend_from_slice(&s[info.hdr_len()..]);
                if !v6 {
                    assert_eq!(u16::from_be_bytes([s[2], s[3]]) as usize, s.len());
                    assert_eq!(
                        u16::from_be_bytes([s[4], s[5]]),
                        0x1234u16.wrapping_add(i as u16)
                    );
                } else {
                    assert_eq!(u16::from_be_bytes([s[4], s[5]]) as usize, s.len() - 40);
                }
            }
            assert_eq!(joined, payload);
        }
    }

    #[test]
    fn coalescing_the_segments_gives_back_the_super_packet() {
        for v6 in [false, true] {
            let payload: Vec<u8> = (0..5600u32).map(|i| (i % 251) as u8).collect();
            let sup = tcp_packet(v6, 7, &payload, TCP_ACK);
            let segs = split(&sup, 1400);
            let fi = segment_info(&segs[0]).unwrap();
            let mut run = fi.payload_len;
            for s in &segs[1..] {
                let ni = segment_info(s).unwrap();
                assert!(continues(&segs[0], &fi, run, s, &ni));
                run += ni.payload_len;
            }
            let mut hdr = segs[0][..fi.h.hdr_len()].to_vec();
            let vh = coalesced_header(&mut hdr, &fi, run, false);
            assert_eq!(vh.gso_size, 1400);
            assert_eq!(vh.hdr_len as usize, fi.h.hdr_len());
            let mut whole = hdr.clone();
            for s in &segs {
                whole.extend_from_slice(&s[fi.h.hdr_len()..]);
            }
            // Completing the partial checksum yields a valid packet equal to
            // the original super-packet (IP id aside, which stays the first's).
            complete_checksum(&mut whole, vh.csum_start as usize, vh.csum_offset as usize).unwrap();
            assert!(checksums_ok(&whole));
            assert_eq!(whole, sup);
        }
    }

    #[test]
    fn coalescing_refuses_gaps_other_flows_and_flags() {
        let a = tcp_packet(false, 100, &[1; 100], TCP_ACK);
        let fi = segment_info(&a).unwrap();
        let gap = tcp_packet(false, 300, &[1; 100], TCP_ACK);
        assert!(!continues(&a, &fi, 100, &gap, &segment_info(&gap).unwrap()));
        let next = tcp_packet(false, 200, &[1; 100], TCP_ACK);
        assert!(continues(
            &a,
            &fi,
            100,
            &next,
            &segment_info(&next).unwrap()
        ));
        let bigger = tcp_packet(false, 200, &[1; 101], TCP_ACK);
        assert!(!continues(
            &a,
            &fi,
            100,
            &bigger,
            &segment_info(&bigger).unwrap()
        ));
        let mut other_port = next.clone();
        other_port[21] ^= 1;
        let oi = segment_info(&other_port).unwrap();
        assert!(!continues(&a, &fi, 100, &other_port, &oi));
        assert!(segment_info(&tcp_packet(false, 200, &[1; 10], TCP_ACK | TCP_FIN)).is_none());
        assert!(
            segment_info(&tcp_packet(false, 200, &[], TCP_ACK)).is_none(),
            "pure ACK goes alone"
        );
        assert!(segment_info(&[0x45, 0, 0]).is_none());
    }

    fn udp_packet(v6: bool, payload: &[u8]) -> Vec<u8> {
        let ip_len = if v6 { 40 } else { 20 };
        let mut p = vec![0u8; ip_len + 8];
        let l4 = 8 + payload.len();
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&(l4 as u16).to_be_bytes());
            p[6] = 17;
            p[7] = 64;
            p[23] = 1;
            p[39] = 2;
        } else {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + l4) as u16).to_be_bytes());
            p[6] = 0x40;
            p[8] = 64;
            p[9] = 17;
            p[12..16].copy_from_slice(&[10, 42, 0, 3]);
            p[16..20].copy_from_slice(&[10, 42, 0, 2]);
            ipv4_header_checksum(&mut p[..20]);
        }
        p[ip_len..ip_len + 2].copy_from_slice(&40000u16.to_be_bytes());
        p[ip_len + 2..ip_len + 4].copy_from_slice(&5201u16.to_be_bytes());
        p[ip_len + 4..ip_len + 6].copy_from_slice(&(l4 as u16).to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn udp_datagrams_coalesce_into_a_consistent_gso_packet() {
        for v6 in [false, true] {
            let dgrams: Vec<Vec<u8>> = (0..5u8).map(|k| udp_packet(v6, &[k; 64])).collect();
            let last = udp_packet(v6, &[9; 10]);
            let fi = udp_info(&dgrams[0]).unwrap();
            assert_eq!(fi.payload_len, 64);
            let mut bytes = 64;
            for (n, d) in dgrams[1..].iter().chain(std::iter::once(&last)).enumerate() {
                let ni = udp_info(d).unwrap();
                assert!(udp_continues(&dgrams[0], &fi, n + 1, bytes, d, &ni));
                bytes += ni.payload_len;
            }
            let bigger = udp_packet(v6, &[1; 65]);
            assert!(!udp_continues(
                &dgrams[0],
                &fi,
                1,
                64,
                &bigger,
                &udp_info(&bigger).unwrap()
            ));
            let mut other_port = dgrams[1].clone();
            other_port[fi.ip_len] ^= 1;
            assert!(!udp_continues(
                &dgrams[0],
                &fi,
                1,
                64,
                &other_port,
                &udp_info(&other_port).unwrap()
            ));
            assert!(!udp_continues(
                &dgrams[0],
                &fi,
                UDP_MAX_SEGMENTS,
                64,
                &dgrams[1],
                &fi
            ));
            let mut hdr = dgrams[0][..fi.hdr_len()].to_vec();
            let vh = udp_coalesced_header(&mut hdr, &fi, bytes);
            assert_eq!(
                (vh.gso_type, vh.gso_size, vh.hdr_len as usize),
                (GSO_UDP_L4, 64, fi.hdr_len())
            );
            // The partial checksum completes to a valid one over the whole
            // super-packet, as the kernel's segmentation expects.
            let mut whole = hdr.clone();
            for d in dgrams.iter().chain(std::iter::once(&last)) {
                whole.extend_from_slice(&d[fi.hdr_len()..]);
            }
            complete_checksum(&mut whole, vh.csum_start as usize, vh.csum_offset as usize).unwrap();
            let l4 = whole.len() - fi.ip_len;
            let pseudo = if v6 {
                sum(0, &whole[8..40]) + l4 as u64 + 17
            } else {
                sum(0, &whole[12..20]) + 17 + l4 as u64
            };
            assert_eq!(fold(sum(pseudo, &whole[fi.ip_len..])), 0xffff);
            if !v6 {
                assert_eq!(fold(sum(0, &whole[..20])), 0xffff);
            }
        }
        assert!(udp_info(&tcp_packet(false, 1, &[1; 10], TCP_ACK)).is_none());
        assert!(
            udp_info(&udp_packet(false, &[])).is_none(),
            "empty datagrams go alone"
        );
    }

    #[test]
    fn completes_a_partial_checksum() {
        let mut p = tcp_packet(false, 1, &[9; 33], TCP_ACK);
        let h = tcp_headers(&p).unwrap();
        let good = p.clone();
        // What the kernel leaves: the pseudo-header sum, not complemented.
        let l4 = p.len() - 20;
        let partial = fold(pseudo_sum(&p, &h, l4));
        p[36..38].copy_from_slice(&partial.to_be_bytes());
        complete_checksum(&mut p, 20, 16).unwrap();
        assert_eq!(p, good);
        assert_eq!(
            complete_checksum(&mut p, 84, 16),
            Err(OffloadError::Malformed)
        );
    }

    #[test]
    fn malformed_super_packets_are_refused() {
        assert!(Segmenter::new(&[0x45; 10], 1400).is_err());
        let p = tcp_packet(false, 1, &[1; 100], TCP_ACK);
        assert!(Segmenter::new(&p, 0).is_err());
        let mut udp = p.clone();
        udp[9] = 17;
        assert!(Segmenter::new(&udp, 1400).is_err());
    }
}
