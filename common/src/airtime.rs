//! How long a frame holds an 802.11p channel (10 MHz, OFDM), by the
//! standard's timing: the contention before it (AIFS and the mean random
//! back-off), the preamble and SIGNAL field, the OFDM symbols carrying the
//! MAC frame, and for a unicast frame the acknowledgement after it. An
//! estimate for sharing a channel, not a radio driver: retries and
//! collisions are not counted.
//!
//! The frame on the air is our Ethernet frame with its 14-byte header
//! replaced by an 802.11 data header (24 bytes), LLC/SNAP (8) and the FCS
//! (4). Timing for 10 MHz channels (IEEE 802.11-2016, clause 17, and
//! ETSI EN 302 663): slot 13 µs, SIFS 32 µs, preamble + SIGNAL 40 µs,
//! OFDM symbol 8 µs. Control frames use the access category of safety
//! messages (AC_VO: AIFSN 2, CWmin 3), data the best-effort one (AC_BE:
//! AIFSN 6, CWmin 15); the mean back-off is CWmin / 2 slots.

/// What a frame carries: routing control only, or any data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Control = 0,
    Data = 1,
}

impl FrameKind {
    pub const ALL: [FrameKind; 2] = [FrameKind::Control, FrameKind::Data];
    pub fn as_str(&self) -> &'static str {
        match self {
            FrameKind::Control => "control",
            FrameKind::Data => "data",
        }
    }
}

const SLOT_US: u64 = 13;
const SIFS_US: u64 = 32;
const PREAMBLE_US: u64 = 40;
const SYMBOL_US: u64 = 8;
/// 802.11 header + LLC/SNAP + FCS, instead of the 14-byte Ethernet header.
const MAC_OVERHEAD: usize = 24 + 8 + 4;
const ETHERNET_HEADER: usize = 14;
/// SERVICE (16 bits) and tail (6 bits) around the MAC frame.
const PHY_BITS: u64 = 16 + 6;
/// An ACK frame: 14 bytes.
const ACK_BYTES: u64 = 14;
/// The rate control frames and ACKs use at 10 MHz.
const BASIC_RATE_KBPS: u64 = 6000;

/// The airtime model for one PHY rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Airtime {
    /// Data bits per OFDM symbol at the configured rate.
    bits_per_symbol: u64,
}

fn symbols(bits: u64, bits_per_symbol: u64) -> u64 {
    bits.div_ceil(bits_per_symbol.max(1))
}

impl Airtime {
    /// For a PHY rate in kbit/s (802.11p at 10 MHz: 3000 to 27000; the
    /// default, 6000).
    pub const fn new(rate_kbps: u64) -> Airtime {
        let bits = rate_kbps * SYMBOL_US / 1000;
        Airtime {
            bits_per_symbol: if bits == 0 { 1 } else { bits },
        }
    }

    /// Microseconds the channel is busy for one frame of `eth_len` bytes
    /// (Ethernet header included), sent to a group address or not.
    pub fn frame_us(&self, eth_len: usize, broadcast: bool, kind: FrameKind) -> u64 {
        let (aifsn, cw_min) = match kind {
            FrameKind::Control => (2, 3),
            FrameKind::Data => (6, 15),
        };
        let contention = SIFS_US + aifsn * SLOT_US + cw_min * SLOT_US / 2;
        let mac_bytes = eth_len.saturating_sub(ETHERNET_HEADER) + MAC_OVERHEAD;
        let body = symbols(PHY_BITS + 8 * mac_bytes as u64, self.bits_per_symbol);
        let mut us = contention + PREAMBLE_US + body * SYMBOL_US;
        if !broadcast {
            let basic = BASIC_RATE_KBPS * SYMBOL_US / 1000;
            us += SIFS_US + PREAMBLE_US + symbols(PHY_BITS + 8 * ACK_BYTES, basic) * SYMBOL_US;
        }
        us
    }
}

/// The kind of a frame from its first message's type byte (frames are
/// Ethernet, then our 6-byte message header: version, type, ...).
pub fn kind_of(frame: &[u8]) -> FrameKind {
    match frame.get(ETHERNET_HEADER + 1) {
        Some(3..=5) => FrameKind::Data,
        _ => FrameKind::Control,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_broadcast_at_6_mbits_takes_about_a_fifth_of_a_millisecond() {
        let a = Airtime::new(6000);
        // A mode-off beacon: 14 + 6 + 28 bytes.
        let beacon = a.frame_us(48, true, FrameKind::Control);
        assert_eq!(beacon, 32 + 26 + 19 + 40 + 13 * 8, "{beacon}");
        // A full data frame, unicast, is about 2.2 ms with its ACK.
        let data = a.frame_us(1500, false, FrameKind::Data);
        assert!((2100..2400).contains(&data), "{data}");
        // Faster rates take less.
        assert!(Airtime::new(12000).frame_us(1500, false, FrameKind::Data) < data);
    }

    #[test]
    fn kinds_come_from_the_first_message() {
        let mut f = vec![0u8; 20];
        f[15] = 1;
        assert_eq!(kind_of(&f), FrameKind::Control);
        f[15] = 3;
        assert_eq!(kind_of(&f), FrameKind::Data);
        assert_eq!(kind_of(&[]), FrameKind::Control);
    }
}
