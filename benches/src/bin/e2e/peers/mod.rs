//! Other tunnels over the same two-namespace link as the 1-hop kernel
//! path (wireguard-go, boringtun, fastd, tinc, openvpn), each at its
//! largest MTU that avoids fragmenting on the 1500-byte radio, measured
//! like the kernel path and the daemons in the same run: TCP bulk and its
//! retransmits, UDP 64 B, idle ping and the tunnel processes' CPU per TCP
//! segment.
//!
//! Each peer's daemons run in the RSU's (server, 10.99.0.1 on the radio,
//! 10.77.0.1 in the tunnel) and the OBU's (client, .2) namespace of a
//! fresh `Topology::chain(1)`, and are stopped before the namespaces go.

mod mtu;
mod programs;
mod tunnel;

use crate::measure::{cpu_seconds, iperf, ping_idle, tcp_of, udp_run};
use crate::net::{build, Net, Path, Setup};
use crate::results::{PeerRow, Udp64};
use benches::Error;
use mtu::{check_mtu, df_ping, fragments, route_mtu};
use programs::*;
use std::time::Duration;
use testbed::output;
use tunnel::*;

/// The payload of one full TCP segment on the daemons' path: CPU per
/// segment is CPU time over received bytes / 1430, as the whole-machine
/// figure in `measure::tcp_of`.
const SEGMENT: f64 = 1430.0;
/// The radio's MTU and the underlay (IPv4 + UDP) every peer pays.
const RADIO_MTU: u32 = 1500;
const UDP4: u32 = 28;
/// How long a tunnel may take to carry a full-size ping (tinc discovers
/// its path MTU first, openvpn runs a TLS handshake).
pub(super) const READY: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Peer {
    WireguardGo,
    Boringtun,
    FastdNull,
    FastdSalsa,
    TincNone,
    TincDefault,
    OpenvpnNone,
    OpenvpnAesGcm,
}

impl Peer {
    pub const ALL: [Peer; 8] = [
        Peer::WireguardGo,
        Peer::Boringtun,
        Peer::FastdNull,
        Peer::FastdSalsa,
        Peer::TincNone,
        Peer::TincDefault,
        Peer::OpenvpnNone,
        Peer::OpenvpnAesGcm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Peer::WireguardGo => "wireguard-go",
            Peer::Boringtun => "boringtun",
            Peer::FastdNull => "fastd null",
            Peer::FastdSalsa => "fastd salsa2012+umac",
            Peer::TincNone => "tinc none",
            Peer::TincDefault => "tinc default",
            Peer::OpenvpnNone => "openvpn none",
            Peer::OpenvpnAesGcm => "openvpn aes-256-gcm",
        }
    }

    /// Bytes each tunnelled packet adds on the radio beyond IPv4 + UDP.
    fn overhead(self) -> u32 {
        match self {
            // Data header 16 (type, receiver index, counter) + Poly1305
            // tag 16; the padding to 16 bytes costs nothing at 1440.
            Peer::WireguardGo | Peer::Boringtun => 32,
            // fastd's manual: 1 header byte for "null", 24 for the others.
            Peer::FastdNull => 1,
            Peer::FastdSalsa => 24,
            // tinc 1.0 sends a 4-byte sequence number and the 14-byte
            // Ethernet header even in router mode.
            Peer::TincNone => 18,
            // AES-256-CBC (tinc 1.0.36's default) over sequence number,
            // Ethernet header and packet, padded to 16 bytes with at least
            // one byte of padding, then a 4-byte HMAC-SHA256: 1437 + 18 + 1
            // = 1456 = 91 × 16, + 4 = 1460 on top of the 28.
            Peer::TincDefault => 35,
            // P_DATA_V2 opcode and peer id 4 + packet id 4 (+ GCM tag 16).
            Peer::OpenvpnNone => 8,
            Peer::OpenvpnAesGcm => 24,
        }
    }

    /// The tunnel MTU: the largest inner packet whose outer one still fits
    /// the radio unfragmented (checked by `check_mtu` in every run).
    pub fn mtu(self) -> u32 {
        RADIO_MTU - UDP4 - self.overhead()
    }

    /// The program the peer runs (what must be installed).
    fn program(self) -> &'static str {
        match self {
            Peer::WireguardGo => "wireguard-go",
            Peer::Boringtun => "boringtun-cli",
            Peer::FastdNull | Peer::FastdSalsa => "fastd",
            Peer::TincNone | Peer::TincDefault => "tincd",
            Peer::OpenvpnNone | Peer::OpenvpnAesGcm => "openvpn",
        }
    }

    /// Every program the setup needs besides the daemon.
    fn tools(self) -> &'static [&'static str] {
        match self {
            Peer::WireguardGo | Peer::Boringtun => &["wg"],
            Peer::OpenvpnNone | Peer::OpenvpnAesGcm => &["openssl"],
            _ => &[],
        }
    }

    /// The settings, as documented with the results.
    pub fn settings(self) -> String {
        let mtu = self.mtu();
        let wg = format!("configured with `wg set`: private key, listen-port 51820, one peer with its endpoint 10.99.0.x:51820 and allowed-ips the far tunnel address /32, no keepalive; tunnel MTU {mtu} (IPv4 20 + UDP 8 + WireGuard header 16 + tag 16)");
        let tinc = "`tincd -D`, `Mode = router`, `DeviceType = tun`, `AddressFamily = ipv4`, RSA-2048 keys from `tincd -K`, the client `ConnectTo` the server, `PMTUDiscovery = no` (the interface's MTU is the limit, as for the other peers; while probing, tinc 1.0 sends packets above the MTU found so far over its TCP connection), everything else at its default (`PMTU = 1514`, `ClampMSS = yes`, `Compression = 0`)";
        let ovpn = "openvpn 2.6 point-to-point over UDP: `--dev-type tun --proto udp --ifconfig`, TLS with a throwaway ECDSA P-256 CA and certificates (`--tls-server`/`--tls-client`, `--dh none`), `--allow-compression no`, `--disable-dco` (the data path in the process, as the others), `--mssfix 0` and no `--fragment`, `--reneg-bytes 0` (with a null cipher openvpn would otherwise renegotiate every 64 MB), socket buffers at the system's default";
        match self {
            Peer::WireguardGo => format!("`wireguard-go -f`, {wg}"),
            Peer::Boringtun => format!(
                "`boringtun-cli --foreground --disable-drop-privileges --threads {}` (one per CPU), {wg}",
                cpus()
            ),
            Peer::FastdNull | Peer::FastdSalsa => format!(
                "`mode tun; method \"{}\"; mtu {mtu};`, one peer with `remote` 10.99.0.x:10000 and its `key`, keys from `fastd --generate-key` (IPv4 + UDP 28 + {} fastd bytes)",
                if self == Peer::FastdNull { "null" } else { "salsa2012+umac" },
                self.overhead()
            ),
            Peer::TincNone => format!("{tinc}; `Cipher = none`, `Digest = none` in both host files; tunnel MTU {mtu} (IPv4 + UDP 28 + sequence number 4 + Ethernet header 14)"),
            Peer::TincDefault => format!("{tinc}; tinc 1.0.36's default crypto (its manual): `Cipher = aes-256-cbc`, `Digest = sha256`, `MACLength = 4`; tunnel MTU {mtu} (IPv4 + UDP 28, then sequence number 4 + Ethernet header 14 + packet, padded to 16 bytes with at least one, + MAC 4)"),
            Peer::OpenvpnNone => format!("{ovpn}; `--data-ciphers none --auth none`; `--tun-mtu {mtu}` (IPv4 + UDP 28 + opcode and peer id 4 + packet id 4)"),
            Peer::OpenvpnAesGcm => format!("{ovpn}; `--data-ciphers AES-256-GCM`; `--tun-mtu {mtu}` (IPv4 + UDP 28 + opcode and peer id 4 + packet id 4 + tag 16)"),
        }
    }

    /// The installed program's version line.
    fn version(self) -> String {
        let out = output(&[self.program(), "--version"]);
        let text = if out.stdout.trim().is_empty() {
            out.stderr
        } else {
            out.stdout
        };
        // The name and version, without openvpn's build platform and flags.
        let line = text.lines().next().unwrap_or("");
        let words: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| !w.contains("-linux") && !w.starts_with('['))
            .collect();
        words.join(" ")
    }

    /// Starts the daemons in `t`'s two namespaces and configures their
    /// interfaces; `t` keeps every process started, so a failure half way
    /// still stops them.
    fn setup(self, t: &mut Tunnel) -> Result<(), Error> {
        match self {
            Peer::WireguardGo | Peer::Boringtun => setup_wireguard(self, t),
            Peer::FastdNull | Peer::FastdSalsa => setup_fastd(self, t),
            Peer::TincNone | Peer::TincDefault => setup_tinc(self, t),
            Peer::OpenvpnNone | Peer::OpenvpnAesGcm => setup_openvpn(self, t),
        }
    }
}

pub(super) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// TCP bulk (with the CPU of `pids` over it), UDP 64 B and idle ping
/// on `net` into `r`, and the fragments the radio saw meanwhile.
fn measure(net: &mut Net, pids: &[u32], secs: u64, r: &mut PeerRow) {
    let frag0 = fragments(net);
    let cpu = |p: &[u32]| p.iter().map(|&p| cpu_seconds(p)).sum::<f64>();
    let c0 = cpu(pids);
    let t = iperf(net, &[], secs);
    let c1 = cpu(pids);
    let tcp = tcp_of(&t);
    if !pids.is_empty() {
        r.tunnel_cpu_s = Some(c1 - c0);
        if let Some(bytes) = tcp.tcp_bytes.map(|b| b as f64).filter(|b| *b > 0.0) {
            r.tunnel_us_per_segment = Some((c1 - c0) * 1e6 / (bytes / SEGMENT));
        }
    }
    r.tcp = Some(tcp);
    r.udp64 = Some(Udp64::from(&udp_run(net, 64, secs)));
    r.ping_idle = ping_idle(net);
    r.radio_fragments = Some(fragments(net) - frag0);
}

/// One peer on a fresh 1-hop link: its row, or a skipped / failed one.
pub fn run_peer(setup: &Setup, peer: Peer, secs: u64) -> PeerRow {
    let mut r = PeerRow::new(peer.name(), Some(peer.mtu().into()), &peer.settings());
    let missing: Vec<&str> = std::iter::once(peer.program())
        .chain(peer.tools().iter().copied())
        .filter(|p| testbed::which(p).is_none())
        .collect();
    if !missing.is_empty() {
        return skipped(peer, r, format!("{} not installed", missing.join(", ")));
    }
    eprintln!("== {}", peer.name());
    r.version = Some(peer.version());
    // A panic inside (a command the system refused) fails this peer only;
    // the tunnel's drop has stopped its processes by then.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_tunnel(setup, peer, secs, &mut r)
    }));
    let failed = match run {
        Ok(Ok(())) => None,
        // Found by `which` but not by the setup: skipped all the same.
        Ok(Err(e)) => match e.missing_tool() {
            Some(tool) => return skipped(peer, r, format!("{tool} not installed")),
            None => Some(e.to_string()),
        },
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".into()),
        ),
    };
    if let Some(e) = failed {
        eprintln!("== {}: failed: {e}", peer.name());
        r.failed = Some(e);
    }
    r
}

/// `r` as a row skipped for `why` (a program is missing).
fn skipped(peer: Peer, mut r: PeerRow, why: String) -> PeerRow {
    eprintln!(
        "== {}: skipped, {why} (scripts/bench-e2e.sh installs it)",
        peer.name()
    );
    r.skipped = Some(why);
    r
}

fn run_tunnel(setup: &Setup, peer: Peer, secs: u64, r: &mut PeerRow) -> Result<(), Error> {
    let net = kernel_link(setup);
    let mut t = Tunnel {
        procs: Vec::new(),
        logs: Vec::new(),
        sockets: Vec::new(),
        ifaces: Vec::new(),
        net,
    };
    let fail = |t: &Tunnel, e: Error| Error::Logged {
        source: Box::new(e),
        logs: t.log_tail(),
    };
    if let Err(e) = peer.setup(&mut t) {
        return Err(fail(&t, e));
    }
    // Until the tunnel carries a full-size packet: openvpn's handshake,
    // tinc's path MTU discovery (it refuses larger packets until then).
    let full = peer.mtu() - 28;
    if let Err(e) = t.wait_for("full-size ping through the tunnel", READY, |t| {
        df_ping(&t.net, full, 1) == 1
    }) {
        return Err(fail(&t, e));
    }
    r.mtu_check = Some(check_mtu(&t, peer.mtu()));
    r.mtu = route_mtu(&t.ns(&CLIENT), &t.net.dst);
    let pids: Vec<u32> = t.procs.iter().map(|c| c.id()).collect();
    measure(&mut t.net, &pids, secs, r);
    Ok(())
}

/// The 1-hop link of the kernel path (10.99.0.x/24 on each radio), its
/// destination the server's tunnel address.
fn kernel_link(setup: &Setup) -> Net {
    let mut net = build(setup, Path::Kernel, 1);
    net.dst = SERVER.tunnel.into();
    net
}

/// The kernel path or the daemons (1 hop) as a row of the same table.
pub fn run_reference(setup: &Setup, path: Path, name: &str, settings: &str, secs: u64) -> PeerRow {
    eprintln!("== {name} (peers table)");
    let mut net = build(setup, path, 1);
    let pids: Vec<u32> = (0..net.tb.nodes.len())
        .filter_map(|i| net.tb.pid(i))
        .collect();
    let mtu = route_mtu(&net.tb.nodes[net.client].ns, &net.dst);
    let mut r = PeerRow::new(name, mtu, settings);
    measure(&mut net, &pids, secs, &mut r);
    r
}

/// The whole peers part: the kernel path, the daemons with security off
/// and encrypted, then every peer, one after the other. `only`: names of
/// peers to run alone (comma-separated), without the reference rows.
pub fn run_peers(setup: &Setup, secs: u64, only: Option<&str>) -> Vec<PeerRow> {
    if let Some(names) = only {
        let wanted: Vec<&str> = names.split(',').map(str::trim).collect();
        return Peer::ALL
            .iter()
            .filter(|p| wanted.contains(&p.name()))
            .map(|&p| run_peer(setup, p, secs))
            .collect();
    }
    let mut v = vec![
        run_reference(
            setup,
            Path::Kernel,
            "kernel",
            "no tunnel: plain IPv4 on the radios",
            secs,
        ),
        run_reference(
            setup,
            Path::Batched,
            "v2xd off",
            "the daemons' defaults, `[security]` off",
            secs,
        ),
        run_reference(
            setup,
            Path::Encrypted,
            "v2xd encrypted",
            "the daemons' defaults, `[security] mode = \"encrypted\"`",
            secs,
        ),
    ];
    v.extend(Peer::ALL.iter().map(|&p| run_peer(setup, p, secs)));
    v
}

/// Checks the arithmetic of the MTUs against the figures measured on
/// this link (see `check_mtu`).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtus_are_the_measured_ones() {
        let m: Vec<u32> = Peer::ALL.iter().map(|p| p.mtu()).collect();
        assert_eq!(m, [1440, 1440, 1471, 1448, 1454, 1437, 1464, 1448]);
    }

    #[test]
    fn tinc_default_fills_the_radio_exactly() {
        // AES-CBC pads (4 + 14 + L + 1) up to 16; + MAC 4 + 28.
        let outer = |l: u32| (4 + 14 + l + 1).div_ceil(16) * 16 + 4 + 28;
        assert!(outer(Peer::TincDefault.mtu()) <= 1500);
        assert!(outer(Peer::TincDefault.mtu() + 1) > 1500);
    }
}
