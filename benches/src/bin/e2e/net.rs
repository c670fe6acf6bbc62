//! The paths the driver compares and the namespace networks it builds
//! for them: the kernel's own forwarding, or the daemons with a given
//! configuration, over the testbed's emulated radio.

use benches::floor_relay::{self, FloorRelay};
use std::time::Duration;
use testbed::{ns_exec, NodeOptions, SecurityMode, Testbed, Topology};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Path {
    Kernel,
    /// The kernel path with every frame on the radio at most the link MTU
    /// (no GSO/TSO super-frames), as the daemons must send them.
    KernelMtu,
    Batched,
    BatchedNoAggregation,
    BatchedNoOffload,
    Unbatched,
    /// Batched, with `[security] mode = "authenticated"` (signed control
    /// messages, plain data).
    Authenticated,
    /// Batched, with `[security] mode = "encrypted"`.
    Encrypted,
    /// Encrypted with `post_quantum = true` (hybrid X25519 + ML-KEM-768
    /// handshake; the data path is the same).
    EncryptedPq,
    /// Batched, with the daemons of another build (`--old-bin-dir`): the
    /// same figures before and after a change, in one run.
    Old,
    /// Batched, with `[dataplane] realtime_priority = 1` (realtime while
    /// the CPUs are contended).
    Realtime,
    /// No daemons: the least relay of this design
    /// (`benches::floor_relay`), batched, 1 hop only.
    Floor,
    /// The floor relay polling without sleeping.
    FloorSpin,
}

impl Path {
    pub fn name(&self) -> &'static str {
        match self {
            Path::Kernel => "kernel",
            Path::KernelMtu => "kernel_mtu",
            Path::Batched => "batched",
            Path::BatchedNoAggregation => "batched_no_aggregation",
            Path::BatchedNoOffload => "batched_no_offload",
            Path::Unbatched => "unbatched",
            Path::Authenticated => "authenticated",
            Path::Encrypted => "encrypted",
            Path::EncryptedPq => "encrypted_pq",
            Path::Old => "batched_old",
            Path::Realtime => "realtime",
            Path::Floor => "floor",
            Path::FloorSpin => "floor_spin",
        }
    }
}

pub struct Net {
    /// The floor relays of the floor path (stopped on drop, before the
    /// testbed removes their namespaces: fields drop in this order).
    pub floor: Vec<FloorRelay>,
    pub tb: Testbed,
    /// Client node index, server node index, server address.
    pub client: usize,
    pub server: usize,
    pub dst: String,
    pub daemons: bool,
}

/// How every daemon's data plane is set up in this run.
#[derive(Clone, Debug, Default)]
pub struct DataplaneOpts {
    /// TOML lines inside `[dataplane]`.
    pub lines: String,
    /// One CPU per node's data plane.
    pub pin: bool,
}

/// What every network of a run is built with (from the command line).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub dataplane: DataplaneOpts,
    /// The binaries of [`Path::Old`] (`--old-bin-dir`).
    pub old_bin_dir: Option<std::path::PathBuf>,
}

pub fn build(setup: &Setup, path: Path, hops: usize) -> Net {
    build_with(setup, path, hops, "")
}

/// `extra`: TOML appended to every daemon's config.
pub fn build_with(setup: &Setup, path: Path, hops: usize, extra: &str) -> Net {
    let tb = Testbed::new(&Topology::chain(hops));
    match path {
        Path::Kernel | Path::KernelMtu => build_kernel(tb, hops, path == Path::KernelMtu),
        Path::Floor | Path::FloorSpin => build_floor(tb, hops, path == Path::FloorSpin),
        _ => build_daemons(setup, tb, path, hops, extra),
    }
}

/// The kernel path: plain IP on the same radios and bridge, the middle
/// nodes routing (`mtu_frames`: no GSO/TSO super-frames on the radios).
fn build_kernel(tb: Testbed, hops: usize, mtu_frames: bool) -> Net {
    for i in 0..=hops {
        let ns = tb.nodes[i].ns.clone();
        ns_exec(
            &ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("10.99.0.{}/24", i + 1),
                "dev",
                "radio0",
            ],
        );
        ns_exec(&ns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        if mtu_frames {
            // One segment per skb: TCP cuts to the MTU itself.
            ns_exec(
                &ns,
                &[
                    "ethtool", "-K", "radio0", "tso", "off", "gso", "off", "gro", "off",
                ],
            );
        }
        ns_exec(
            &ns,
            &["sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"],
        );
        ns_exec(
            &ns,
            &["sysctl", "-qw", "net.ipv4.conf.radio0.send_redirects=0"],
        );
        ns_exec(
            &ns,
            &["sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0"],
        );
    }
    // Host routes along the chain: toward the RSU via i-1, away via i+1.
    for i in 0..=hops {
        let ns = tb.nodes[i].ns.clone();
        for j in 0..=hops {
            // Next hop toward j: one step along the chain (direct
            // neighbours are on-link).
            let via = if j + 1 < i {
                i
            } else if j > i + 1 {
                i + 2
            } else {
                continue;
            };
            let dst = format!("10.99.0.{}/32", j + 1);
            let gw = format!("10.99.0.{via}");
            ns_exec(&ns, &["ip", "route", "add", &dst, "via", &gw]);
        }
    }
    Net {
        tb,
        client: hops,
        server: 0,
        dst: "10.99.0.1".into(),
        daemons: false,
        floor: Vec::new(),
    }
}

/// The daemons of `path`, configured for it, ready (and with sessions up
/// when encrypted).
fn build_daemons(setup: &Setup, mut tb: Testbed, path: Path, hops: usize, extra: &str) -> Net {
    let (client, server) = (hops, 0);
    let dp = &setup.dataplane;
    let opts = NodeOptions {
        batching: path != Path::Unbatched,
        aggregate: path != Path::BatchedNoAggregation,
        offload: path != Path::BatchedNoOffload,
        log_level: "warn".into(),
        security: match path {
            Path::Encrypted | Path::EncryptedPq => Some(SecurityMode::Encrypted),
            Path::Authenticated => Some(SecurityMode::Authenticated),
            _ => None,
        },
        security_extra: if path == Path::EncryptedPq {
            "post_quantum = true".into()
        } else {
            String::new()
        },
        dataplane: if path == Path::Realtime {
            format!("realtime_priority = 1\n{}", dp.lines)
        } else {
            dp.lines.clone()
        },
        pin_cpus: dp.pin,
        extra: extra.to_string(),
        bin_dir: (path == Path::Old).then(|| {
            setup
                .old_bin_dir
                .clone()
                .expect("the old path needs --old-bin-dir")
        }),
        ..NodeOptions::default()
    };
    tb.start_all(&opts);
    if matches!(path, Path::Encrypted | Path::EncryptedPq) {
        // Ready means attached; wait for the sessions too.
        let c = (0..100).position(|_| {
            std::thread::sleep(Duration::from_millis(100));
            (1..=hops).all(|i| tb.stat(i, "routing", "handshakes") >= 1)
        });
        assert!(c.is_some(), "sessions did not come up");
    }
    tb.wait_ready(Duration::from_secs(20));
    let dst = tb.nodes[server].addr4.clone();
    Net {
        tb,
        client,
        server,
        dst,
        daemons: true,
        floor: Vec::new(),
    }
}

/// The floor path: a floor relay in the RSU's and the OBU's namespace,
/// each sending everything to the other.
fn build_floor(tb: Testbed, hops: usize, spin: bool) -> Net {
    assert_eq!(hops, 1, "the floor path is 1 hop only");
    let floor = floor_relay::start_pair(&tb, spin).unwrap_or_else(|e| panic!("floor relay: {e}"));
    Net {
        tb,
        client: 1,
        server: 0,
        dst: "10.98.0.1".into(),
        daemons: false,
        floor,
    }
}
