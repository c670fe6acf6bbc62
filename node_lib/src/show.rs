//! `obu show ...` / `rsu show ...`: readable tables from a daemon's API.
//! The views and their output formats live here; the command line only
//! names them.

use api::{Client, Neighbor, Routes, Stats, TopologyNode};
use common::counters::TABLE;
use serde::Serialize;

/// What `show` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowWhat {
    Neighbors,
    Routes,
    Stats,
    /// The cell as a tree: OBUs under their relays, hops, link quality.
    Topology,
}

/// How `show` prints it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Dot,
}

/// Formats rows as an aligned table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<width$}", c, width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(|s| s.as_str()).collect()));
        out.push('\n');
    }
    out
}

/// A list as one cell: `a,b`.
fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

pub fn neighbors_table(v: &[Neighbor]) -> String {
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.last_heard_ms.to_string(),
                n.frames.to_string(),
            ]
        })
        .collect();
    table(&["NEIGHBOR", "LAST HEARD (ms)", "FRAMES"], &rows)
}

pub fn routes_table(v: &Routes) -> String {
    match v {
        Routes::Rsu(r) => {
            let rows: Vec<Vec<String>> = r
                .obus
                .iter()
                .map(|o| {
                    vec![
                        o.id.to_string(),
                        o.next_hop.to_string(),
                        o.hops.to_string(),
                        list(&o.addresses),
                        opt(o.rtt_us),
                    ]
                })
                .collect();
            table(&["OBU", "NEXT HOP", "HOPS", "ADDRESSES", "RTT (us)"], &rows)
        }
        Routes::Obu(o) => {
            let mut out = match &o.upstream {
                None => "upstream: none\n".to_string(),
                Some(u) => format!(
                    "upstream: rsu {} via {} ({} hops)\n",
                    u.rsu, u.next_hop, u.hops
                ),
            };
            out.push('\n');
            let rows: Vec<Vec<String>> = o
                .candidates
                .iter()
                .map(|c| {
                    vec![
                        c.rsu.to_string(),
                        c.next_hop.to_string(),
                        c.hops.to_string(),
                        c.reception_ratio.to_string(),
                    ]
                })
                .collect();
            out.push_str(&table(&["RSU", "NEXT HOP", "HOPS", "RECEPTION"], &rows));
            let down: Vec<Vec<String>> = o
                .downstream
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.next_hop.to_string(),
                        d.hops.to_string(),
                        list(&d.addresses),
                    ]
                })
                .collect();
            if !down.is_empty() {
                out.push('\n');
                out.push_str(&table(
                    &["DOWNSTREAM OBU", "NEXT HOP", "HOPS", "ADDRESSES"],
                    &down,
                ));
            }
            out
        }
    }
}

/// Every counter of the table by section, the batch sizes, then every
/// drop reason that counted.
pub fn stats_table(v: &Stats) -> String {
    let mut rows: Vec<Vec<String>> = TABLE
        .iter()
        .map(|d| vec![d.name(), opt(v.get(d.section, d.key))])
        .collect();
    for (d, b) in &v.batching.batches {
        let avg = if b.batches > 0 {
            b.packets as f64 / b.batches as f64
        } else {
            0.0
        };
        rows.push(vec![
            format!("batch.{d}"),
            format!("{} batches, {} packets, avg {avg:.1}", b.batches, b.packets),
        ]);
    }
    for (k, n) in &v.drops {
        if *n > 0 {
            rows.push(vec![format!("drops.{k}"), n.to_string()]);
        }
    }
    table(&["COUNTER", "VALUE"], &rows)
}

fn json(v: &impl Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// One view in one format, or why it cannot be had.
fn view(client: &Client, what: ShowWhat, format: Format) -> Result<String, String> {
    let e = |e: api::Error| e.to_string();
    Ok(match what {
        ShowWhat::Neighbors => {
            let v = client.neighbors().map_err(e)?;
            match format {
                Format::Json => json(&v),
                _ => neighbors_table(&v),
            }
        }
        ShowWhat::Routes => {
            let v = client.routes().map_err(e)?;
            match format {
                Format::Json => json(&v),
                _ => routes_table(&v),
            }
        }
        ShowWhat::Stats => {
            let v = client.stats().map_err(e)?;
            match format {
                Format::Json => json(&v),
                _ => stats_table(&v),
            }
        }
        ShowWhat::Topology => {
            let v: TopologyNode = client.topology().map_err(e)?;
            match format {
                Format::Json => json(&v),
                Format::Dot => crate::topology::dot(&v),
                Format::Table => crate::topology::text(&v),
            }
        }
    })
}

/// Runs `show`: exit 0 on success, 64 for a format the view has not, 69
/// when the daemon cannot be reached or answers otherwise.
pub fn run(what: ShowWhat, api: &str, format: Format) -> i32 {
    if format == Format::Dot && what != ShowWhat::Topology {
        eprintln!("error: --format dot is for `show topology`");
        return 64; // sysexits.h EX_USAGE
    }
    match view(&Client::new(api), what, format) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            crate::daemon::EX_UNAVAILABLE
        }
    }
}
