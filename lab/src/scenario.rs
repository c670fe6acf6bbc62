//! A scenario file (TOML): what the lab builds and drives. Every key is
//! documented in docs/LAB.md; unknown keys are errors, and every error names
//! the key and the value that is wrong.

mod event;

pub use event::{in_time_order, EventKind, EventSpec, Link};

use crate::mobility::road::{Road, Traffic};
use event::RawEvent;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A scenario that cannot be used: the key (`radio.edge_m`, `flow[2].to`)
/// and why. The same type as the daemons' configuration errors.
pub type ScenarioError = common::keyed_error::KeyedError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    duration_s: f64,
    #[serde(default)]
    security: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    radio: RawRadio,
    #[serde(default)]
    rsu: Vec<RawRsu>,
    mobility: RawMobility,
    #[serde(default)]
    backbone: Option<RawBackbone>,
    #[serde(default)]
    flow: Vec<RawFlow>,
    #[serde(default)]
    daemons: Option<RawDaemons>,
    #[serde(default)]
    lab: Option<RawLab>,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadio {
    range_m: f64,
    #[serde(default)]
    edge_m: Option<f64>,
    #[serde(default)]
    bandwidth_mbps: Option<f64>,
    #[serde(default)]
    edca: Option<bool>,
    #[serde(default)]
    update_hz: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRsu {
    name: String,
    x: f64,
    y: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMobility {
    kind: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    max_obus: Option<usize>,
    #[serde(default)]
    length_m: Option<f64>,
    #[serde(default)]
    lanes: Option<usize>,
    #[serde(default)]
    speed_kmh: Option<Vec<f64>>,
    #[serde(default)]
    vehicles: Option<usize>,
    #[serde(default)]
    entry_per_min: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackbone {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    kind: String,
    from: String,
    to: String,
    #[serde(default)]
    rate_pps: Option<f64>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    start_s: Option<f64>,
    #[serde(default)]
    stop_s: Option<f64>,
    #[serde(default)]
    dscp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemons {
    #[serde(default)]
    beacon_interval_ms: Option<u64>,
    #[serde(default)]
    log_level: Option<String>,
    #[serde(default)]
    batching: Option<bool>,
    #[serde(default)]
    bulk_queue_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    #[serde(default)]
    poll_interval_ms: Option<u64>,
    #[serde(default)]
    hosts: Option<usize>,
}

/// `security`: the daemons' `[security] mode` (their own type).
pub use config_file::SecurityMode as Security;

/// `[radio]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RadioSettings {
    pub range_m: f64,
    pub edge_m: f64,
    pub bandwidth_mbps: Option<f64>,
    /// With a bandwidth: a priority queue under the shaper, as a radio's
    /// EDCA queues (frames the daemons mark as voice pass queued bulk);
    /// false: one FIFO.
    pub edca: bool,
    pub update_hz: f64,
}

/// `[[rsu]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RsuSpec {
    pub name: String,
    pub x: f64,
    pub y: f64,
}

/// Where `[mobility]` takes the vehicles from.
#[derive(Clone, Debug, PartialEq)]
pub enum MobilitySource {
    Road(Road),
    Ns2(PathBuf),
    SumoFcd(PathBuf),
}

/// `[mobility]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MobilitySettings {
    pub source: MobilitySource,
    pub max_obus: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    Ping,
    Udp,
    Tcp,
}

impl FlowKind {
    pub fn name(&self) -> &'static str {
        match self {
            FlowKind::Ping => "ping",
            FlowKind::Udp => "udp",
            FlowKind::Tcp => "tcp",
        }
    }
}

/// `[[flow]]` as written (names not resolved yet).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    pub kind: FlowKind,
    pub from: String,
    pub to: String,
    pub rate_pps: f64,
    pub size: usize,
    pub start_s: f64,
    pub stop_s: Option<f64>,
    /// The DSCP of the flow's packets (0: unmarked, best effort).
    pub dscp: u8,
}

/// A checked scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub duration_s: f64,
    pub security: Security,
    pub seed: u64,
    pub radio: RadioSettings,
    pub rsus: Vec<RsuSpec>,
    pub mobility: MobilitySettings,
    pub backbone: bool,
    pub flows: Vec<FlowSpec>,
    pub beacon_interval_ms: u64,
    pub log_level: String,
    /// `[daemons] batching` (default true): false runs the daemons with
    /// their escape hatch (`[batching] enabled = false`).
    pub batching: bool,
    /// `[daemons] bulk_queue_bytes`: the daemons' `[link]
    /// bulk_queue_bytes` (`None`: their default; 0: no bulk lane).
    pub bulk_queue_bytes: Option<u64>,
    pub poll_interval_ms: u64,
    /// Host namespaces the air spans (joined by VXLAN); 1: one air.
    pub hosts: usize,
    /// `[[event]]`s in the file's order.
    pub events: Vec<EventSpec>,
}

/// The smallest UDP payload of a flow: the lab's own header (flow, sequence
/// number, send time) fills it.
pub const MIN_UDP_SIZE: usize = 16;

/// The longest scenario (a day): beyond it a typo in `duration_s` is more
/// likely than an intent.
const MAX_DURATION_S: f64 = 86_400.0;
/// Node names become file names and config values: keep them plain.
const MAX_NAME: usize = 32;

fn positive(key: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ScenarioError::key(key, format!("{v}: must be above 0")))
    }
}

fn not_negative(key: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ScenarioError::key(key, format!("{v}: must be 0 or more")))
    }
}

fn finite(key: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ScenarioError::key(key, format!("{v}: must be a number")))
    }
}

/// A node name: letters, digits, `-`, `_`, `.`; not a reserved flow target.
pub fn check_name(key: &str, name: &str) -> Result<(), ScenarioError> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if name.is_empty() || name.len() > MAX_NAME || !plain {
        return Err(ScenarioError::key(
            key,
            format!("\"{name}\": a name is 1 to {MAX_NAME} letters, digits, `-`, `_` or `.`"),
        ));
    }
    if name == "server" || name == "each-obu" {
        return Err(ScenarioError::key(
            key,
            format!("\"{name}\": reserved as a flow target"),
        ));
    }
    Ok(())
}

impl Scenario {
    /// Reads and checks the scenario at `path`; a trace file it names is
    /// relative to it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            key: None,
            message: format!("{}: {e}", path.display()),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Scenario::parse(&text, dir)
    }

    /// Checks a scenario's text; `dir` is where its trace files are.
    pub fn parse(text: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError {
            key: None,
            message: e.to_string().trim_end().to_string(),
        })?;
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            return Err(ScenarioError::key("name", "\"\": must not be empty"));
        }
        let duration_s = positive("duration_s", raw.duration_s)?;
        if duration_s > MAX_DURATION_S {
            return Err(ScenarioError::key(
                "duration_s",
                format!("{duration_s}: at most {MAX_DURATION_S} (a day)"),
            ));
        }
        let security = match raw.security.as_deref().unwrap_or("off") {
            "off" => Security::Off,
            "authenticated" => Security::Authenticated,
            "encrypted" => Security::Encrypted,
            other => {
                return Err(ScenarioError::key(
                    "security",
                    format!("\"{other}\": expected \"off\", \"authenticated\" or \"encrypted\""),
                ))
            }
        };
        let seed = raw.seed.unwrap_or(1);
        let radio = parse_radio(&raw.radio)?;
        let rsus = parse_rsus(&raw.rsu)?;
        let mobility = parse_mobility(&raw.mobility, dir, seed)?;
        if let MobilitySource::Road(road) = &mobility.source {
            let n = trips(road, duration_s);
            if n > MAX_TRIPS {
                let key = match road.traffic {
                    Traffic::Vehicles(_) => "mobility.vehicles",
                    Traffic::EntryPerMin(_) => "mobility.entry_per_min",
                };
                return Err(ScenarioError::key(
                    key,
                    format!(
                        "the road would make {n:.0} vehicle trips in {duration_s} s, at most {MAX_TRIPS:.0}: fewer vehicles, a longer road or a shorter run"
                    ),
                ));
            }
        }
        let backbone = raw.backbone.is_some_and(|b| b.enabled);
        let flows = raw
            .flow
            .iter()
            .enumerate()
            .map(|(i, f)| parse_flow(i, f, duration_s))
            .collect::<Result<Vec<_>, _>>()?;
        let events = event::parse_events(&raw.event, duration_s, backbone)?;
        let daemons = raw.daemons.unwrap_or(RawDaemons {
            beacon_interval_ms: None,
            log_level: None,
            batching: None,
            bulk_queue_bytes: None,
        });
        let beacon_interval_ms = daemons.beacon_interval_ms.unwrap_or(100);
        if !(10..=10_000).contains(&beacon_interval_ms) {
            return Err(ScenarioError::key(
                "daemons.beacon_interval_ms",
                format!("{beacon_interval_ms}: expected 10 to 10000"),
            ));
        }
        let log_level = daemons.log_level.unwrap_or_else(|| "info".into());
        if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
            return Err(ScenarioError::key(
                "daemons.log_level",
                format!("\"{log_level}\": expected error, warn, info, debug or trace"),
            ));
        }
        let poll_interval_ms = raw
            .lab
            .as_ref()
            .and_then(|l| l.poll_interval_ms)
            .unwrap_or(1000);
        let hosts = raw.lab.as_ref().and_then(|l| l.hosts).unwrap_or(1);
        if !(1..=8).contains(&hosts) {
            return Err(ScenarioError::key(
                "lab.hosts",
                format!("{hosts}: expected 1 to 8"),
            ));
        }
        if !(100..=60_000).contains(&poll_interval_ms) {
            return Err(ScenarioError::key(
                "lab.poll_interval_ms",
                format!("{poll_interval_ms}: expected 100 to 60000"),
            ));
        }
        Ok(Scenario {
            name,
            duration_s,
            security,
            seed,
            radio,
            rsus,
            mobility,
            backbone,
            flows,
            beacon_interval_ms,
            log_level,
            batching: daemons.batching.unwrap_or(true),
            bulk_queue_bytes: daemons.bulk_queue_bytes,
            poll_interval_ms,
            hosts,
            events,
        })
    }
}

fn parse_radio(r: &RawRadio) -> Result<RadioSettings, ScenarioError> {
    let range_m = positive("radio.range_m", r.range_m)?;
    let edge_m = not_negative("radio.edge_m", r.edge_m.unwrap_or(0.0))?;
    if edge_m > range_m {
        return Err(ScenarioError::key(
            "radio.edge_m",
            format!("{edge_m}: must not exceed radio.range_m ({range_m})"),
        ));
    }
    let bandwidth_mbps = match r.bandwidth_mbps {
        Some(b) => {
            let b = positive("radio.bandwidth_mbps", b)?;
            if b > 100_000.0 {
                return Err(ScenarioError::key(
                    "radio.bandwidth_mbps",
                    format!("{b}: at most 100000"),
                ));
            }
            Some(b)
        }
        None => None,
    };
    let update_hz = positive("radio.update_hz", r.update_hz.unwrap_or(10.0))?;
    if !(1.0..=100.0).contains(&update_hz) {
        return Err(ScenarioError::key(
            "radio.update_hz",
            format!("{update_hz}: expected 1 to 100"),
        ));
    }
    Ok(RadioSettings {
        range_m,
        edge_m,
        bandwidth_mbps,
        edca: r.edca.unwrap_or(true),
        update_hz,
    })
}

fn parse_rsus(raw: &[RawRsu]) -> Result<Vec<RsuSpec>, ScenarioError> {
    if raw.is_empty() {
        return Err(ScenarioError::key("rsu", "at least one [[rsu]] is needed"));
    }
    let mut out: Vec<RsuSpec> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        check_name(&format!("rsu[{i}].name"), &r.name)?;
        if out.iter().any(|o| o.name == r.name) {
            return Err(ScenarioError::key(
                &format!("rsu[{i}].name"),
                format!("\"{}\": used twice", r.name),
            ));
        }
        out.push(RsuSpec {
            name: r.name.clone(),
            x: finite(&format!("rsu[{i}].x"), r.x)?,
            y: finite(&format!("rsu[{i}].y"), r.y)?,
        });
    }
    Ok(out)
}

/// Keys that belong to one mobility kind only.
const ROAD_KEYS: [&str; 5] = [
    "length_m",
    "lanes",
    "speed_kmh",
    "vehicles",
    "entry_per_min",
];

fn parse_mobility(
    m: &RawMobility,
    dir: &Path,
    seed: u64,
) -> Result<MobilitySettings, ScenarioError> {
    let road_keys_given: Vec<&str> = ROAD_KEYS
        .iter()
        .zip([
            m.length_m.is_some(),
            m.lanes.is_some(),
            m.speed_kmh.is_some(),
            m.vehicles.is_some(),
            m.entry_per_min.is_some(),
        ])
        .filter(|(_, given)| *given)
        .map(|(k, _)| *k)
        .collect();
    let file = |kind: &str| -> Result<PathBuf, ScenarioError> {
        if let Some(k) = road_keys_given.first() {
            return Err(ScenarioError::key(
                &format!("mobility.{k}"),
                format!("only for kind = \"road\", not \"{kind}\""),
            ));
        }
        let f = m.file.as_deref().ok_or_else(|| {
            ScenarioError::key(
                "mobility.file",
                format!("missing: kind = \"{kind}\" reads a file"),
            )
        })?;
        Ok(dir.join(f))
    };
    let source = match m.kind.as_str() {
        "road" => {
            if m.file.is_some() {
                return Err(ScenarioError::key(
                    "mobility.file",
                    "not for kind = \"road\" (the road is built in)",
                ));
            }
            MobilitySource::Road(parse_road(m, seed)?)
        }
        "ns2" => MobilitySource::Ns2(file("ns2")?),
        "sumo-fcd" => MobilitySource::SumoFcd(file("sumo-fcd")?),
        other => {
            return Err(ScenarioError::key(
                "mobility.kind",
                format!("\"{other}\": expected \"road\", \"ns2\" or \"sumo-fcd\""),
            ))
        }
    };
    if m.max_obus == Some(0) {
        return Err(ScenarioError::key(
            "mobility.max_obus",
            "0: must be at least 1",
        ));
    }
    Ok(MobilitySettings {
        source,
        max_obus: m.max_obus,
    })
}

fn parse_road(m: &RawMobility, seed: u64) -> Result<Road, ScenarioError> {
    let length_m = positive(
        "mobility.length_m",
        m.length_m
            .ok_or_else(|| ScenarioError::key("mobility.length_m", "missing (kind = \"road\")"))?,
    )?;
    let lanes = m.lanes.unwrap_or(1);
    if !(1..=16).contains(&lanes) {
        return Err(ScenarioError::key(
            "mobility.lanes",
            format!("{lanes}: expected 1 to 16"),
        ));
    }
    let speed = m.speed_kmh.clone().unwrap_or_else(|| vec![80.0, 120.0]);
    let [lo, hi] = speed[..] else {
        return Err(ScenarioError::key(
            "mobility.speed_kmh",
            format!("{speed:?}: expected [min, max]"),
        ));
    };
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= 500.0) {
        return Err(ScenarioError::key(
            "mobility.speed_kmh",
            format!("[{lo}, {hi}]: expected 0 < min <= max <= 500"),
        ));
    }
    let traffic = match (m.vehicles, m.entry_per_min) {
        (Some(_), Some(_)) => {
            return Err(ScenarioError::key(
                "mobility.entry_per_min",
                "give either `vehicles` or `entry_per_min`, not both",
            ))
        }
        (Some(0), None) => {
            return Err(ScenarioError::key(
                "mobility.vehicles",
                "0: must be at least 1",
            ))
        }
        (Some(n), None) => Traffic::Vehicles(n),
        (None, Some(r)) => Traffic::EntryPerMin(positive("mobility.entry_per_min", r)?),
        (None, None) => {
            return Err(ScenarioError::key(
                "mobility.vehicles",
                "missing: give `vehicles` (on the road at once) or `entry_per_min`",
            ))
        }
    };
    let road = Road {
        length_m,
        lanes,
        speed_kmh: (lo, hi),
        traffic,
        seed,
    };
    Ok(road)
}

/// Most vehicle trips a road may generate: beyond it the numbers are a
/// mistake (a 1 m road, a billion vehicles), not a lab.
pub const MAX_TRIPS: f64 = 1_000_000.0;

/// How many trips the road makes in `duration_s` at most.
fn trips(road: &Road, duration_s: f64) -> f64 {
    let fastest = road.speed_kmh.1 / 3.6;
    match road.traffic {
        Traffic::Vehicles(n) => n as f64 * (1.0 + duration_s * fastest / road.length_m),
        Traffic::EntryPerMin(r) => 1.0 + r * 1.5 * duration_s / 60.0,
    }
}

fn parse_flow(i: usize, f: &RawFlow, duration_s: f64) -> Result<FlowSpec, ScenarioError> {
    let key = |k: &str| format!("flow[{i}].{k}");
    let kind = match f.kind.as_str() {
        "ping" => FlowKind::Ping,
        "udp" => FlowKind::Udp,
        "tcp" => FlowKind::Tcp,
        other => {
            return Err(ScenarioError::key(
                &key("kind"),
                format!("\"{other}\": expected \"ping\", \"udp\" or \"tcp\""),
            ))
        }
    };
    if f.from == "each-obu" && f.to == "each-obu" {
        return Err(ScenarioError::key(
            &key("from"),
            "\"each-obu\": `from` or `to` takes each-obu, not both (a flow between every pair of vehicles is not a lab)",
        ));
    }
    // TCP runs as fast as it can unless a rate is given.
    let default_rate = match kind {
        FlowKind::Tcp => 0.0,
        _ => 10.0,
    };
    let rate_pps = not_negative(&key("rate_pps"), f.rate_pps.unwrap_or(default_rate))?;
    if kind != FlowKind::Tcp && !(0.1..=100_000.0).contains(&rate_pps) {
        return Err(ScenarioError::key(
            &key("rate_pps"),
            format!("{rate_pps}: expected 0.1 to 100000"),
        ));
    }
    let size = f.size.unwrap_or(match kind {
        FlowKind::Tcp => 1400,
        _ => 100,
    });
    let min_size = match kind {
        FlowKind::Udp => MIN_UDP_SIZE,
        _ => 16,
    };
    if !(min_size..=8000).contains(&size) {
        return Err(ScenarioError::key(
            &key("size"),
            format!("{size}: expected {min_size} to 8000 bytes"),
        ));
    }
    let start_s = not_negative(&key("start_s"), f.start_s.unwrap_or(0.0))?;
    if start_s >= duration_s {
        return Err(ScenarioError::key(
            &key("start_s"),
            format!("{start_s}: the scenario ends at {duration_s} s"),
        ));
    }
    let stop_s = match f.stop_s {
        Some(s) if !(s.is_finite() && s > start_s) => {
            return Err(ScenarioError::key(
                &key("stop_s"),
                format!("{s}: must be after start_s ({start_s})"),
            ))
        }
        s => s,
    };
    let dscp = match f.dscp.unwrap_or(0) {
        d @ 0..=63 => d as u8,
        d => {
            return Err(ScenarioError::key(
                &key("dscp"),
                format!("{d}: expected 0 to 63"),
            ))
        }
    };
    Ok(FlowSpec {
        kind,
        from: f.from.clone(),
        to: f.to.clone(),
        rate_pps,
        size,
        start_s,
        stop_s,
        dscp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
duration_s = 20
security = "encrypted"
[radio]
range_m = 300
edge_m = 50
[[rsu]]
name = "rsu1"
x = 0
y = 0
[mobility]
kind = "road"
length_m = 1000
lanes = 2
speed_kmh = [60, 90]
vehicles = 4
[[flow]]
kind = "udp"
from = "obu0"
to = "rsu1"
"#;

    fn err(text: &str) -> String {
        Scenario::parse(text, Path::new("."))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_scenario_reads_with_defaults() {
        let s = Scenario::parse(GOOD, Path::new(".")).unwrap();
        assert_eq!(s.security, Security::Encrypted);
        assert_eq!(s.radio.edge_m, 50.0);
        assert_eq!(s.radio.update_hz, 10.0);
        assert_eq!(s.flows[0].rate_pps, 10.0);
        assert!(
            matches!(s.mobility.source, MobilitySource::Road(r) if r.traffic == Traffic::Vehicles(4))
        );
    }

    #[test]
    fn unknown_keys_are_errors_that_name_them() {
        let e = err(&GOOD.replace("edge_m = 50", "egde_m = 50"));
        assert!(e.contains("egde_m"), "{e}");
        let e = err(&format!("{GOOD}\nextra = 1\n"));
        assert!(e.contains("extra"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_value() {
        for (from, to, key, value) in [
            ("edge_m = 50", "edge_m = 400", "radio.edge_m", "400"),
            ("range_m = 300", "range_m = -3", "radio.range_m", "-3"),
            (
                "security = \"encrypted\"",
                "security = \"secret\"",
                "security",
                "secret",
            ),
            ("kind = \"road\"", "kind = \"bus\"", "mobility.kind", "bus"),
            (
                "speed_kmh = [60, 90]",
                "speed_kmh = [90, 60]",
                "mobility.speed_kmh",
                "90",
            ),
            ("vehicles = 4", "vehicles = 0", "mobility.vehicles", "0"),
            ("kind = \"udp\"", "kind = \"quic\"", "flow[0].kind", "quic"),
            (
                "name = \"rsu1\"",
                "name = \"rsu 1\"",
                "rsu[0].name",
                "rsu 1",
            ),
            ("duration_s = 20", "duration_s = 0", "duration_s", "0"),
            (
                "vehicles = 4",
                "vehicles = 4000000000",
                "mobility.vehicles",
                "trips",
            ),
            (
                "length_m = 1000",
                "length_m = 0.001",
                "mobility.vehicles",
                "trips",
            ),
            (
                "vehicles = 4",
                "entry_per_min = 1e12",
                "mobility.entry_per_min",
                "trips",
            ),
        ] {
            assert!(GOOD.contains(from), "{from}");
            let e = err(&GOOD.replace(from, to));
            assert!(e.contains(key) && e.contains(value), "{to}: {e}");
        }
    }

    #[test]
    fn road_keys_belong_to_the_road_and_files_to_traces() {
        let e = err(&GOOD.replace("kind = \"road\"", "kind = \"ns2\"\nfile = \"t.ns\""));
        assert!(e.contains("mobility.length_m"), "{e}");
        let e = err(&GOOD.replace("kind = \"road\"", "kind = \"road\"\nfile = \"t.ns\""));
        assert!(e.contains("mobility.file"), "{e}");
        let e = err(&GOOD.replace("vehicles = 4", "vehicles = 4\nentry_per_min = 3"));
        assert!(e.contains("entry_per_min"), "{e}");
    }
}
