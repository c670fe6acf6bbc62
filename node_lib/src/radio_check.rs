//! `--check-config`'s look at the radio interface: an 802.11p radio must
//! be in OCB mode ("outside the context of a BSS") on a 5.9 GHz ITS
//! channel, 10 MHz wide, before the daemon can use it (docs/OPERATIONS.md,
//! "The 802.11p radio"; `v2xd-ocb-up` and the `v2xd-ocb@.service` unit set
//! it up). Wired and virtual interfaces (Ethernet, veth) need nothing.

use std::path::Path;
use std::process::Command;

/// The ITS band at 5.9 GHz (ETSI EN 302 571 and FCC: 5850-5925 MHz).
pub const ITS_BAND_MHZ: std::ops::RangeInclusive<u32> = 5850..=5925;
/// 802.11p's channel width.
pub const OCB_WIDTH_MHZ: u32 = 10;

/// What the interface is, as far as this machine can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Radio {
    /// No such interface (yet): the daemon will refuse to start.
    Missing,
    /// Not a wireless device (Ethernet, veth, a bridge): nothing to check.
    NotWireless,
    /// A wireless device whose mode could not be read (no `iw`).
    Unchecked(String),
    /// A wireless device and what `iw dev IF info` says of it.
    Wireless(IwInfo),
}

/// The parts of `iw dev IF info` that matter here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IwInfo {
    /// `type ...`: "outside context of a BSS" is OCB.
    pub kind: String,
    pub freq_mhz: Option<u32>,
    pub width_mhz: Option<u32>,
}

impl IwInfo {
    pub fn is_ocb(&self) -> bool {
        self.kind == "outside context of a BSS" || self.kind.eq_ignore_ascii_case("ocb")
    }

    /// Reads `iw dev IF info`'s text.
    pub fn parse(text: &str) -> IwInfo {
        let mut info = IwInfo::default();
        for line in text.lines().map(str::trim) {
            if let Some(kind) = line.strip_prefix("type ") {
                info.kind = kind.trim().to_string();
            } else if let Some(rest) = line.strip_prefix("channel ") {
                // "channel 178 (5890 MHz), width: 10 MHz, center1: 5890 MHz"
                info.freq_mhz = rest
                    .split_once('(')
                    .and_then(|(_, r)| r.split_whitespace().next())
                    .and_then(|f| f.parse().ok());
                info.width_mhz = rest
                    .split_once("width:")
                    .and_then(|(_, r)| r.split_whitespace().next())
                    .and_then(|w| w.parse().ok());
            }
        }
        info
    }
}

/// Looks at `iface` (sysfs, then `iw` if installed).
pub fn inspect(iface: &str) -> Radio {
    let dev = Path::new("/sys/class/net").join(iface);
    if !dev.exists() {
        return Radio::Missing;
    }
    if !dev.join("phy80211").exists() && !dev.join("wireless").exists() {
        return Radio::NotWireless;
    }
    match Command::new("iw").args(["dev", iface, "info"]).output() {
        Ok(o) if o.status.success() => {
            Radio::Wireless(IwInfo::parse(&String::from_utf8_lossy(&o.stdout)))
        }
        Ok(o) => Radio::Unchecked(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Radio::Unchecked(format!("`iw` not found ({e}); install the iw package")),
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Fine, or nothing to check.
    Note,
    /// Probably wrong, but the daemon can run (a missing interface may
    /// yet appear; an OCB radio off the ITS band may be a lab's).
    Warning,
    /// The daemon cannot work over it: a wireless interface in a mode
    /// that does not reach peers without an access point.
    Error,
}

/// What `--check-config` says of the radio.
pub fn verdict(iface: &str, radio: &Radio) -> (Level, String) {
    let fix = format!(
        "bring it up with `v2xd-ocb-up {iface}` or `systemctl enable --now v2xd-ocb@{iface}` (docs/OPERATIONS.md, \"The 802.11p radio\")"
    );
    match radio {
        Radio::Missing => (
            Level::Warning,
            format!("radio `{iface}`: no such interface (yet); {fix}"),
        ),
        Radio::NotWireless => (
            Level::Note,
            format!("radio `{iface}`: not a wireless device (Ethernet or virtual); nothing to set up"),
        ),
        Radio::Unchecked(why) => (
            Level::Warning,
            format!("radio `{iface}`: wireless, mode not checked: {why}"),
        ),
        Radio::Wireless(info) if info.is_ocb() => ocb_verdict(iface, info, &fix),
        Radio::Wireless(info) if ["IBSS", "mesh point"].contains(&info.kind.as_str()) => (
            Level::Warning,
            format!(
                "radio `{iface}`: in mode \"{}\", not OCB: peers are reached, but not as 802.11p; {fix}",
                info.kind
            ),
        ),
        Radio::Wireless(info) => (
            Level::Error,
            format!(
                "radio `{iface}`: in mode \"{}\", not OCB (802.11p): frames would not reach the other nodes; {fix}",
                info.kind
            ),
        ),
    }
}

fn ocb_verdict(iface: &str, info: &IwInfo, fix: &str) -> (Level, String) {
    let freq = info
        .freq_mhz
        .map_or("no channel".to_string(), |f| format!("{f} MHz"));
    let width = info
        .width_mhz
        .map_or(String::new(), |w| format!(", {w} MHz wide"));
    let off_band = info.freq_mhz.is_none_or(|f| !ITS_BAND_MHZ.contains(&f));
    let off_width = info.width_mhz.is_some_and(|w| w != OCB_WIDTH_MHZ);
    if off_band || off_width {
        let (lo, hi) = (ITS_BAND_MHZ.start(), ITS_BAND_MHZ.end());
        (
            Level::Warning,
            format!(
                "radio `{iface}`: OCB on {freq}{width}; 802.11p wants a channel in {lo}-{hi} MHz, {OCB_WIDTH_MHZ} MHz wide; {fix}"
            ),
        )
    } else {
        (
            Level::Note,
            format!("radio `{iface}`: OCB on {freq}{width}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCB: &str = "Interface wlan0\n\tifindex 3\n\twdev 0x1\n\taddr 02:00:00:00:00:01\n\ttype outside context of a BSS\n\twiphy 0\n\tchannel 178 (5890 MHz), width: 10 MHz, center1: 5890 MHz\n\ttxpower 23.00 dBm\n";
    const MANAGED: &str = "Interface wlan0\n\tifindex 3\n\ttype managed\n\twiphy 0\n\tchannel 36 (5180 MHz), width: 20 MHz, center1: 5180 MHz\n";

    #[test]
    fn iw_info_is_read() {
        let i = IwInfo::parse(OCB);
        assert!(i.is_ocb());
        assert_eq!((i.freq_mhz, i.width_mhz), (Some(5890), Some(10)));
        let m = IwInfo::parse(MANAGED);
        assert!(!m.is_ocb());
        assert_eq!(m.kind, "managed");
        assert_eq!(IwInfo::parse(""), IwInfo::default());
    }

    #[test]
    fn only_ocb_on_an_its_channel_10_mhz_wide_passes() {
        let wireless = |text: &str| verdict("wlan0", &Radio::Wireless(IwInfo::parse(text)));
        assert_eq!(
            wireless(OCB),
            (
                Level::Note,
                "radio `wlan0`: OCB on 5890 MHz, 10 MHz wide".into()
            )
        );
        let (level, e) = wireless(MANAGED);
        assert_eq!(level, Level::Error);
        assert!(
            e.contains("not OCB") && e.contains("v2xd-ocb-up wlan0"),
            "{e}"
        );
        let (level, e) = wireless(&OCB.replace("width: 10 MHz", "width: 20 MHz"));
        assert_eq!(level, Level::Warning);
        assert!(e.contains("10 MHz wide"), "{e}");
        let (level, e) = wireless("Interface wlan0\n\ttype outside context of a BSS\n");
        assert_eq!(level, Level::Warning);
        assert!(e.contains("no channel"), "{e}");
        assert_eq!(
            wireless(&MANAGED.replace("managed", "IBSS")).0,
            Level::Warning
        );
        assert_eq!(verdict("eth0", &Radio::NotWireless).0, Level::Note);
        assert_eq!(verdict("x", &Radio::Missing).0, Level::Warning);
    }

    /// Real interfaces of this machine: loopback is not wireless, a
    /// made-up name does not exist.
    #[test]
    fn real_interfaces_are_told_apart() {
        assert_eq!(inspect("lo"), Radio::NotWireless);
        assert_eq!(inspect("v2xd-none-0"), Radio::Missing);
    }
}
