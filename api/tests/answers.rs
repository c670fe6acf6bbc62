//! The answers read back what the daemons write.

use api::{ProbeAnswer, Routes, Stats};
use serde_json::json;

#[test]
fn routes_tell_an_rsu_from_an_obu() {
    let rsu = json!({"obus": [{"id": "02:00:00:00:00:02", "next_hop": "02:00:00:00:00:02",
        "hops": 1, "addresses": ["10.42.0.2/16"], "rsu": "02:00:00:00:00:01", "age_ms": 5,
        "rtt_us": null, "attach_seq": 3, "parent": "02:00:00:00:00:01", "link_quality_pct": 100}],
        "uplink": true, "preference": 0, "backbone": null});
    let r: Routes = serde_json::from_value(rsu.clone()).unwrap();
    assert!(matches!(&r, Routes::Rsu(x) if x.obus.len() == 1 && x.backbone.is_none()));
    assert_eq!(serde_json::to_value(&r).unwrap(), rsu);
    let obu = json!({"upstream": null, "candidates": [], "downstream": []});
    let r: Routes = serde_json::from_value(obu.clone()).unwrap();
    assert!(matches!(&r, Routes::Obu(o) if o.upstream.is_none()));
    assert_eq!(serde_json::to_value(&r).unwrap(), obu);
    assert!(serde_json::from_value::<Routes>(json!({"nothing": 1})).is_err());
}

#[test]
fn stats_sections_hold_any_counter() {
    let v = json!({
        "link": {"rx_frames": 7}, "tun": {}, "offload": {}, "routing": {"relayed": 2},
        "security": {}, "backbone": {}, "drops": {"too_big": 1},
        "batching": {"enabled": true, "max_batch": 64, "aggregate": true, "batches": {},
                     "syscalls": {"sendmmsg": 3}, "packets_moved": 9},
        "airtime": {"channel_busy_ratio": 0.25, "rx_us": 11},
        "classes": {"voice": {"sent": 5, "dropped": 0, "queued": 1}},
    });
    let s: Stats = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(s.classes["voice"].queued, 1);
    assert_eq!(s.get("link", "rx_frames"), Some(7));
    assert_eq!(s.get("batching", "packets_moved"), Some(9));
    assert_eq!(s.get("airtime", "rx_us"), Some(11));
    assert_eq!(s.get("drops", "too_big"), Some(1));
    assert_eq!(s.get("routing", "nothing"), None);
    assert_eq!(s.get("nowhere", "relayed"), None);
    assert_eq!(serde_json::to_value(&s).unwrap(), v);
}

#[test]
fn a_probe_timeout_has_no_sender() {
    let t = json!({"target": "10.0.0.1", "ttl": 16, "answered": false, "kind": "timeout"});
    let a: ProbeAnswer = serde_json::from_value(t.clone()).unwrap();
    assert!(a.from.is_none() && a.rtt_ms.is_none());
    assert_eq!(serde_json::to_value(&a).unwrap(), t);
}

/// A daemon not listening yet is told apart from one that answers badly,
/// so that callers waiting for a start ask again.
#[cfg(feature = "client")]
#[test]
fn a_refused_connection_is_a_connect_error() {
    // A port just bound and released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = api::Client::new(&format!("127.0.0.1:{port}"));
    let e = c.status().unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(e.to_string().contains("is the daemon running"), "{e}");
}

/// An error status keeps the API's own message.
#[cfg(feature = "client")]
#[test]
fn an_error_status_carries_the_apis_message() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        // Read the whole request (headers, then the JSON body) before
        // answering: closing with unread bytes makes the kernel reset the
        // connection, and the client would see that instead of the answer.
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let body = r#"{"error":"target `x` is neither a node id nor an IP address"}"#;
        write!(
            s,
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    let e = api::Client::new(&addr)
        .probe(&api::ProbeRequest {
            target: "x".into(),
            ttl: None,
            timeout_ms: None,
        })
        .unwrap_err();
    server.join().unwrap();
    assert!(!e.is_connect());
    assert_eq!(
        e.to_string(),
        "HTTP 400: target `x` is neither a node id nor an IP address"
    );
}
