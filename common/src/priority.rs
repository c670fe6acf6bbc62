//! Priority classes: the four access categories of 802.11p's EDCA, chosen
//! for an IP packet by its DSCP, and for the overlay's own frames by kind.
//!
//! Why: a channel of 6-27 Mbit/s is shared, and a TCP download fills every
//! queue on its way. A safety message that waits behind it waits tens of
//! milliseconds. The data plane keeps a queue per class and sends the
//! higher classes first (`datapath::tun_backlog`, `protocol::plan`), and it
//! keeps the kernel's own queue short (the bulk lane's byte limit), so the
//! order it chose is the order on the air.
//!
//! The default map follows RFC 8325's mapping of DSCP to 802.11 user
//! priorities, with the "EF and CS5-CS7 highest":
//!
//! | class | DSCP |
//! |---|---|
//! | voice (AC_VO) | EF 46, VOICE-ADMIT 44, CS5 40, CS6 48, CS7 56 |
//! | video (AC_VI) | CS4 32, AF41-43 34/36/38, CS3 24, AF31-33 26/28/30 |
//! | background (AC_BK) | CS1 8, LE 1 |
//! | best effort (AC_BE) | everything else, and packets that are not IP |

use std::fmt;
use std::str::FromStr;

/// A priority class, highest first (the order of [`Class::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// AC_VO: safety messages, voice, the overlay's control frames.
    Voice = 0,
    /// AC_VI: interactive video, signalling.
    Video = 1,
    /// AC_BE: everything unmarked.
    BestEffort = 2,
    /// AC_BK: bulk that may wait (updates, logs).
    Background = 3,
}

impl Class {
    /// Every class, highest first.
    pub const ALL: [Class; 4] = [
        Class::Voice,
        Class::Video,
        Class::BestEffort,
        Class::Background,
    ];

    /// Its index in [`Class::ALL`] (0 = highest).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in configuration files, the API and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Voice => "voice",
            Class::Video => "video",
            Class::BestEffort => "best-effort",
            Class::Background => "background",
        }
    }

    /// Whether the class goes through the bulk lane, whose bytes in the
    /// kernel's queue are bounded (best effort and background), rather
    /// than straight to the radio.
    pub fn is_bulk_lane(self) -> bool {
        self >= Class::BestEffort
    }

    /// The 802.1D user priority a radio's EDCA maps to this class's access
    /// category (mac80211 reads `skb->priority` 256 + UP).
    pub fn user_priority(self) -> u8 {
        match self {
            Class::Voice => 6,
            Class::Video => 5,
            Class::BestEffort => 0,
            Class::Background => 1,
        }
    }
}

impl serde::Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the radio's two send queues a frame goes to. The bulk lane's
/// bytes in the kernel are bounded (`[link] bulk_queue_bytes`): the data
/// plane hands it more only as the radio drains it, so bulk waits in the
/// data plane's class queues, where a higher class can still pass it.
/// Everything else (control, voice and video, small packets of idle
/// flows, frames forwarded for others) takes the priority lane, unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    Priority,
    Bulk,
}

/// A class name that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownClass(pub String);

impl fmt::Display for UnknownClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown class \"{}\" (voice, video, best-effort or background)",
            self.0
        )
    }
}

impl std::error::Error for UnknownClass {}

impl FromStr for Class {
    type Err = UnknownClass;
    fn from_str(s: &str) -> Result<Class, UnknownClass> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownClass(s.to_string()))
    }
}

/// DSCP values of the default map (see the module's table).
pub const DEFAULT_VOICE: [u8; 5] = [46, 44, 40, 48, 56];
pub const DEFAULT_VIDEO: [u8; 8] = [32, 34, 36, 38, 24, 26, 28, 30];
pub const DEFAULT_BACKGROUND: [u8; 2] = [8, 1];

/// Which class each of the 64 DSCP values is in, and the class of the
/// overlay's own frames (beacons, replies, handshakes) and of V2X
/// broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassMap {
    by_dscp: [Class; 64],
    /// The overlay's control frames.
    pub control: Class,
    /// Broadcast (V2X messages to every vehicle in range).
    pub broadcast: Class,
}

impl Default for ClassMap {
    fn default() -> ClassMap {
        let mut m = ClassMap {
            by_dscp: [Class::BestEffort; 64],
            control: Class::Voice,
            broadcast: Class::Voice,
        };
        m.assign(&DEFAULT_VOICE, Class::Voice);
        m.assign(&DEFAULT_VIDEO, Class::Video);
        m.assign(&DEFAULT_BACKGROUND, Class::Background);
        m
    }
}

/// Shown as each class's DSCP values (best effort: the rest) and the
/// classes of control frames and broadcast.
impl serde::Serialize for ClassMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("ClassMap", 5)?;
        m.serialize_field("voice", &self.dscps(Class::Voice))?;
        m.serialize_field("video", &self.dscps(Class::Video))?;
        m.serialize_field("background", &self.dscps(Class::Background))?;
        m.serialize_field("control", &self.control)?;
        m.serialize_field("broadcast", &self.broadcast)?;
        m.end()
    }
}

impl ClassMap {
    /// Puts each DSCP of `dscps` (those above 63 are ignored: the caller
    /// checks them) in `class`.
    pub fn assign(&mut self, dscps: &[u8], class: Class) {
        for &d in dscps {
            if let Some(c) = self.by_dscp.get_mut(usize::from(d)) {
                *c = class;
            }
        }
    }

    /// The class of DSCP `dscp` (best effort above 63).
    pub fn of_dscp(&self, dscp: u8) -> Class {
        self.by_dscp
            .get(usize::from(dscp))
            .copied()
            .unwrap_or(Class::BestEffort)
    }

    /// The class of an IP packet by its DSCP; best effort if it is not IP.
    pub fn of_packet(&self, packet: &[u8]) -> Class {
        crate::ip::dscp(packet).map_or(Class::BestEffort, |d| self.of_dscp(d))
    }

    /// The DSCP values in `class`, ascending (for the API and docs).
    pub fn dscps(&self, class: Class) -> Vec<u8> {
        (0..64u8).filter(|&d| self.of_dscp(d) == class).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(tos: u8) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[1] = tos;
        p
    }

    fn ipv6(tclass: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60 | (tclass >> 4);
        p[1] = tclass << 4;
        p
    }

    #[test]
    fn the_default_map_puts_ef_and_cs5_to_cs7_highest() {
        let m = ClassMap::default();
        for d in [46, 40, 48, 56, 44] {
            assert_eq!(m.of_dscp(d), Class::Voice, "DSCP {d}");
        }
        assert_eq!(m.of_dscp(34), Class::Video);
        assert_eq!(m.of_dscp(0), Class::BestEffort);
        assert_eq!(m.of_dscp(10), Class::BestEffort);
        assert_eq!(m.of_dscp(8), Class::Background);
        assert_eq!(m.of_dscp(64), Class::BestEffort);
        assert_eq!((m.control, m.broadcast), (Class::Voice, Class::Voice));
    }

    #[test]
    fn packets_are_classed_by_their_dscp_in_both_ip_versions() {
        let m = ClassMap::default();
        // EF is DSCP 46: TOS byte 0xb8 (46 << 2, ECN bits beside it).
        assert_eq!(m.of_packet(&ipv4(0xb8)), Class::Voice);
        assert_eq!(m.of_packet(&ipv4(0xb9)), Class::Voice);
        assert_eq!(m.of_packet(&ipv6(0xb8)), Class::Voice);
        assert_eq!(m.of_packet(&ipv6(8 << 2)), Class::Background);
        assert_eq!(m.of_packet(&ipv4(0)), Class::BestEffort);
        assert_eq!(m.of_packet(&[0x45, 0xb8]), Class::BestEffort);
        assert_eq!(m.of_packet(&[]), Class::BestEffort);
    }

    #[test]
    fn a_map_can_be_changed_and_named() {
        let mut m = ClassMap::default();
        m.assign(&[0, 99], Class::Background);
        assert_eq!(m.of_dscp(0), Class::Background);
        assert!(m.dscps(Class::Background).starts_with(&[0, 1, 8]));
        assert_eq!("video".parse::<Class>(), Ok(Class::Video));
        assert!("fast"
            .parse::<Class>()
            .unwrap_err()
            .to_string()
            .contains("voice"));
        assert!(Class::Background.is_bulk_lane() && !Class::Video.is_bulk_lane());
        assert!(Class::Voice < Class::Background);
    }
}
