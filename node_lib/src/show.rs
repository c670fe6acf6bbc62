//! `obu show ...` / `rsu show ...`: readable tables from a daemon's API.

use crate::cli::{Format, ShowWhat};
use crate::config::RoleKind;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Minimal HTTP/1.1 GET (the API is local and speaks plain HTTP).
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "GET", path, None)
}

/// Minimal HTTP/1.1 request with an optional JSON body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    json_body: Option<&str>,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| {
        format!("cannot connect to API at {addr}: {e} (is the daemon running? see [api] listen)")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let body = json_body.unwrap_or_default();
    let content = if json_body.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content}\r\n{body}"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let (head, body) = buf
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn get_json(addr: &str, path: &str) -> Result<Value, String> {
    let (code, body) = http_get(addr, path)?;
    if code != 200 {
        return Err(format!("{path}: HTTP {code}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{path}: bad JSON: {e}"))
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

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The `keys` of every object in array `v`, as table cells.
fn cells(v: &Value, keys: &[&str]) -> Vec<Vec<String>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|o| keys.iter().map(|k| s(&o[*k])).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// Renders one `show` view from API JSON.
/// The topology as an indented tree, one node a line.
pub fn topology_text(v: &Value) -> String {
    fn walk(n: &Value, depth: usize, out: &mut String) {
        for c in n["children"].as_array().into_iter().flatten() {
            let addrs: Vec<&str> = c["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str(&format!(
                "{}└─ {}  hops {}  link {}%  rtt {}  {}\n",
                "   ".repeat(depth),
                c["id"].as_str().unwrap_or("?"),
                c["hops"],
                c["link_quality_pct"],
                c["rtt_us"].as_u64().map_or("-".to_string(), |us| format!(
                    "{:.1} ms",
                    us as f64 / 1000.0
                )),
                addrs.join(" ")
            ));
            walk(c, depth + 1, out);
        }
    }
    let mut out = format!("{} (rsu)\n", v["id"].as_str().unwrap_or("?"));
    walk(v, 0, &mut out);
    out
}

pub fn render(kind: RoleKind, what: ShowWhat, v: &Value) -> String {
    match what {
        ShowWhat::Neighbors => {
            let rows = cells(v, &["id", "last_heard_ms", "frames"]);
            table(&["NEIGHBOR", "LAST HEARD (ms)", "FRAMES"], &rows)
        }
        ShowWhat::Routes if kind == RoleKind::Rsu => {
            let rows = cells(
                &v["obus"],
                &["id", "next_hop", "hops", "addresses", "rtt_us"],
            );
            table(&["OBU", "NEXT HOP", "HOPS", "ADDRESSES", "RTT (us)"], &rows)
        }
        ShowWhat::Routes => {
            let mut out = match &v["upstream"] {
                Value::Null => "upstream: none\n".to_string(),
                u => format!(
                    "upstream: rsu {} via {} ({} hops)\n",
                    s(&u["rsu"]),
                    s(&u["next_hop"]),
                    s(&u["hops"])
                ),
            };
            out.push('\n');
            let rows = cells(
                &v["candidates"],
                &["rsu", "next_hop", "hops", "reception_ratio"],
            );
            out.push_str(&table(&["RSU", "NEXT HOP", "HOPS", "RECEPTION"], &rows));
            let down = cells(&v["downstream"], &["id", "next_hop", "hops", "addresses"]);
            if !down.is_empty() {
                out.push('\n');
                out.push_str(&table(
                    &["DOWNSTREAM OBU", "NEXT HOP", "HOPS", "ADDRESSES"],
                    &down,
                ));
            }
            out
        }
        ShowWhat::Topology => topology_text(v),
        ShowWhat::Stats => {
            let mut rows = Vec::new();
            for (sect, keys) in [
                (
                    "link",
                    &["rx_frames", "tx_frames", "rx_bytes", "tx_bytes", "errors"][..],
                ),
                (
                    "tun",
                    &["rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "errors"][..],
                ),
                (
                    "batching",
                    &[
                        "packets_moved",
                        "syscalls_total",
                        "aggregated_frames",
                        "partial_sends",
                        "send_retries",
                    ][..],
                ),
                (
                    "routing",
                    &[
                        "relayed",
                        "v2v_turnaround",
                        "upstream_changes",
                        "handshakes",
                        "restarts_seen",
                        "seq_resyncs",
                        "handovers",
                        "obus_left",
                    ][..],
                ),
                (
                    "security",
                    &[
                        "certs_issued",
                        "certs_accepted",
                        "revoked",
                        "broadcasts_verified",
                    ][..],
                ),
                ("backbone", &["installs", "removals", "failures"][..]),
            ] {
                for k in keys {
                    rows.push(vec![format!("{sect}.{k}"), s(&v[sect][k])]);
                }
            }
            for d in ["link_rx", "link_tx", "tun_rx", "tun_tx"] {
                let b = &v["batching"]["batches"][d];
                let batches = b["batches"].as_u64().unwrap_or(0);
                let pkts = b["packets"].as_u64().unwrap_or(0);
                let avg = if batches > 0 {
                    pkts as f64 / batches as f64
                } else {
                    0.0
                };
                rows.push(vec![
                    format!("batch.{d}"),
                    format!("{batches} batches, {pkts} packets, avg {avg:.1}"),
                ]);
            }
            if let Some(d) = v["drops"].as_object() {
                for (k, n) in d {
                    if n.as_u64().unwrap_or(0) > 0 {
                        rows.push(vec![format!("drops.{k}"), s(n)]);
                    }
                }
            }
            table(&["COUNTER", "VALUE"], &rows)
        }
    }
}

/// Runs `show`: exit 0 on success, 69 when the daemon cannot be reached.
pub fn run(kind: RoleKind, what: ShowWhat, api: &str, format: Format) -> i32 {
    let path = match what {
        ShowWhat::Neighbors => "/api/v1/neighbors",
        ShowWhat::Routes => "/api/v1/routes",
        ShowWhat::Stats => "/api/v1/stats",
        ShowWhat::Topology => "/api/v1/topology",
    };
    match get_json(api, path) {
        Ok(v) => {
            match (what, format) {
                (_, Format::Json) => {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                (ShowWhat::Topology, Format::Dot) => print!("{}", crate::topology::dot(&v)),
                (ShowWhat::Topology, _) => print!("{}", topology_text(&v)),
                (_, Format::Dot) => {
                    eprintln!("error: --format dot is for `show topology`");
                    return 64; // sysexits.h EX_USAGE
                }
                _ => print!("{}", render(kind, what, &v)),
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            crate::daemon::EX_UNAVAILABLE
        }
    }
}
