//! The daemons' configuration file as it is written: every section and
//! key of docs/OPERATIONS.md section 3, each optional, unknown keys
//! refused. The daemons read it (`node_lib::config` then checks each value
//! and fills in the defaults); the testbed and the lab build it as a value
//! and write it, so a renamed key breaks them when they are compiled, not
//! when a test runs. Serde only: no daemon code comes with it.

use serde::{Deserialize, Serialize};

/// A whole file: `[node]`, `[link]`, `[tun]`, … Sections left out take
/// their defaults (`[link]` and `[tun]` are required by the daemons).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tun: Option<Tun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batching: Option<Batching>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<Dataplane>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Log>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backbone: Option<Backbone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
}

/// `[node]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `[link]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phy_rate_mbps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_queue_bytes: Option<i64>,
}

/// `[priority]`: the DSCP values of each class but best effort (which
/// has the rest), and the class of the overlay's control frames and of
/// broadcast.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Priority {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
}

/// `[tun]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offload: Option<bool>,
}

/// `[routing]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beacon_interval_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hops: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast_ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover_leave_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_interval_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppress_rebroadcasts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_below_pct: Option<i64>,
}

/// `[batching]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<bool>,
}

/// `[dataplane]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dataplane {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_priority: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_us: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
}

/// `[api]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `[security] mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    /// No protection (a closed test network).
    Off,
    /// Signed beacons and replies; data in the clear.
    Authenticated,
    /// Signed control plane and encrypted data.
    Encrypted,
}

impl SecurityMode {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Off => "off",
            SecurityMode::Authenticated => "authenticated",
            SecurityMode::Encrypted => "encrypted",
        }
    }
}

impl std::str::FromStr for SecurityMode {
    type Err = String;
    fn from_str(s: &str) -> Result<SecurityMode, String> {
        [
            SecurityMode::Off,
            SecurityMode::Authenticated,
            SecurityMode::Encrypted,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not one of: off, authenticated, encrypted"))
    }
}

/// `[security]`. The mode is read as text, so that a wrong one is named
/// in the daemons' error (`security.mode`: `x` is not one of …).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_rsus: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_obus: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_any_obu: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clock_skew_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekey_after_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekey_after_messages: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_lifetime_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_quantum: Option<bool>,
}

/// `[backbone]` (RSU).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backbone {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_routes: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink_check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<i64>,
}

impl ConfigFile {
    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config of plain values serialises")
    }

    /// Reads a file's text (unknown keys refused).
    pub fn from_toml(text: &str) -> Result<ConfigFile, toml::de::Error> {
        toml::from_str(text)
    }

    /// This file with `more` (TOML text: whole sections, or keys under a
    /// section's header) laid over it, key by key: what a test adds to the
    /// file it was given. Refused if the result is not a valid file (an
    /// unknown key, a wrong type).
    pub fn with_toml(&self, more: &str) -> Result<ConfigFile, toml::de::Error> {
        let mut base = toml::Table::try_from(self).expect("a config of plain values serialises");
        let more: toml::Table = toml::from_str(more)?;
        merge(&mut base, more);
        toml::Value::Table(base).try_into()
    }
}

/// Lays `more` over `base`: tables key by key, anything else replaced.
fn merge(base: &mut toml::Table, more: toml::Table) {
    for (k, v) in more {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(m)) => merge(b, m),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_leaves_out_what_is_not_set() {
        let c = ConfigFile {
            link: Some(Link {
                interface: Some("radio0".into()),
                ..Link::default()
            }),
            routing: Some(Routing {
                max_hops: Some(4),
                ..Routing::default()
            }),
            ..ConfigFile::default()
        };
        let text = c.to_toml();
        assert_eq!(
            text,
            "[link]\ninterface = \"radio0\"\n\n[routing]\nmax_hops = 4\n"
        );
        assert_eq!(ConfigFile::from_toml(&text).unwrap(), c);
    }

    #[test]
    fn more_toml_is_laid_over_key_by_key_and_checked() {
        let c = ConfigFile {
            routing: Some(Routing {
                max_hops: Some(4),
                beacon_interval_ms: Some(100),
                ..Routing::default()
            }),
            ..ConfigFile::default()
        };
        let m = c
            .with_toml("[routing]\nmax_hops = 2\n[backbone]\nexport_routes = true\n")
            .unwrap();
        let r = m.routing.unwrap();
        assert_eq!((r.max_hops, r.beacon_interval_ms), (Some(2), Some(100)));
        assert_eq!(m.backbone.unwrap().export_routes, Some(true));
        let e = c.with_toml("[routing]\nmax_hop = 2\n").unwrap_err();
        assert!(e.to_string().contains("max_hop"), "{e}");
        assert!(c.with_toml("[routing]\nmax_hops = \"2\"\n").is_err());
    }

    #[test]
    fn the_mode_is_written_as_the_daemons_read_it() {
        for m in [
            SecurityMode::Off,
            SecurityMode::Authenticated,
            SecurityMode::Encrypted,
        ] {
            let text = toml::to_string(&Security {
                mode: Some(m.as_str().into()),
                ..Security::default()
            })
            .unwrap();
            assert_eq!(text, format!("mode = \"{}\"\n", m.as_str()));
            assert_eq!(m.as_str().parse::<SecurityMode>(), Ok(m));
        }
        assert!("on".parse::<SecurityMode>().is_err());
    }
}
