//! The web view in a real browser: a short scenario runs with `--web`,
//! headless Chromium loads the page while it runs and again as a replay
//! (`v2xd-lab view`); the page must show the scenario's node count and
//! log no script error, and its screenshots are kept as artifacts
//! (`target/test-artifacts/lab-web-*.png`). Needs root and Chromium
//! (SKIPPED without).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| testbed::which(b))
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&d).expect("artifact dir");
    d
}

/// A free TCP port on the loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What Chromium made of `url`: the DOM after the page's scripts ran and
/// what it logged; a screenshot into `png`.
fn browse(url: &str, png: &Path) -> (String, String) {
    let bin = chromium().expect("chromium");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--window-size=1600,900",
        "--virtual-time-budget=3000",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let profile = std::env::temp_dir().join(format!("v2xd-chromium-{}", std::process::id()));
    let dom = Command::new(&bin)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    let shot = Command::new(&bin)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let log =
        String::from_utf8_lossy(&dom.stderr).into_owned() + &String::from_utf8_lossy(&shot.stderr);
    (String::from_utf8_lossy(&dom.stdout).into_owned(), log)
}

/// The page loaded, showed `nodes` nodes and logged no script error.
fn check_page(dom: &str, log: &str, nodes: usize, png: &Path) {
    assert!(
        dom.contains(&format!("data-ready=\"{nodes}\"")),
        "the page did not finish loading its data:\n{}\n{log}",
        &dom[..dom.len().min(3000)]
    );
    assert!(
        dom.contains(&format!("{nodes} (")),
        "node count not shown:\n{dom}"
    );
    assert!(
        !dom.contains("data-error"),
        "the page shows an error:\n{dom}"
    );
    // Every plot drew its time and value axes; the headings give units.
    assert_eq!(
        dom.matches("data-axes=\"time,value\"").count(),
        3,
        "plots without axes:\n{dom}"
    );
    for unit in ["% of vehicles", "% of packets", "over time (s)"] {
        assert!(dom.contains(unit), "no unit {unit:?} on the plots");
    }
    for bad in ["Uncaught", "SyntaxError", "TypeError", "ReferenceError"] {
        assert!(
            !log.contains(bad),
            "script error in the browser's log:\n{log}"
        );
    }
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot {} missing or blank ({size} bytes)",
        png.display()
    );
    eprintln!("screenshot kept: {}", png.display());
}

/// Server-sent events received from `addr` in `dur`.
fn count_events(addr: &str, dur: Duration) -> usize {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web view");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let end = Instant::now() + dur;
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < end {
        if let Ok(n) = s.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
        }
    }
    String::from_utf8_lossy(&all).matches("data: {").count()
}

/// A connection to the pushes of `addr` that stays open (a page left open).
fn hold_events(addr: &str) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web view");
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    s
}

#[test]
fn the_web_view_shows_a_live_run_and_its_replay_in_chromium() {
    testbed::require_testbed!();
    if chromium().is_none() {
        eprintln!(
            "SKIPPED {}: chromium not installed (scripts/deps.sh installs it)",
            module_path!()
        );
        return;
    }
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/city-small.toml");
    let out = std::env::temp_dir().join(format!("v2xd-lab-web-{}", std::process::id()));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut lab = Command::new(env!("CARGO_BIN_EXE_v2xd-lab"))
        .arg("run")
        .arg(&scenario)
        .args(["--duration", "30", "--web", &addr, "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start v2xd-lab");
    let stderr = lab.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let mut seen = String::new();
    while !seen.contains("web view: http://") {
        match rx.recv_timeout(Duration::from_secs(60).saturating_sub(start.elapsed())) {
            Ok(l) => seen += &(l + "\n"),
            Err(_) => panic!("no web view announced:\n{seen}"),
        }
    }
    // Let the network form, then look.
    std::thread::sleep(Duration::from_secs(6));
    let events = count_events(&addr, Duration::from_secs(3));
    assert!(
        events >= 12,
        "{events} pushes in 3 s (at least 5 a second wanted)"
    );
    let api = api::Client::new(&addr);
    let (code, body) = api.get_raw("/api/network").expect("GET /api/network");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["nodes"].as_array().unwrap().len(), 12);
    assert!(
        v["links"].as_array().is_some() && v["flows"].as_array().is_some() && v["time_s"].is_f64()
    );
    let (code, node) = api.get_raw("/api/node/obu1").expect("GET /api/node");
    assert_eq!(code, 200);
    assert!(
        node.contains("\"routes\"") && node.contains("\"drops\""),
        "{node}"
    );
    let png = artifacts().join("lab-web-live.png");
    // Ten pushes, then the page stops listening and the browser settles.
    let (dom, log) = browse(&format!("http://{addr}/?events=10"), &png);
    check_page(&dom, &log, 12, &png);
    assert!(
        dom.contains("data-events=\"10\""),
        "the page did not take ten pushes:\n{dom}"
    );

    // The run ends by itself, a page still open or not; its recording
    // replays.
    let held = hold_events(&addr);
    let end = Instant::now() + Duration::from_secs(90);
    while Instant::now() < end && lab.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = lab.try_wait().ok().flatten().expect("the run ended");
    assert!(status.success(), "v2xd-lab run: {status}");
    drop(held);
    let addr2 = format!("127.0.0.1:{}", free_port());
    let mut view = Command::new(env!("CARGO_BIN_EXE_v2xd-lab"))
        .args(["view"])
        .arg(&out)
        .args(["--web", &addr2])
        .stdout(Stdio::null())
        .spawn()
        .expect("start v2xd-lab view");
    let client = api::Client::new(&addr2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let frames = loop {
        if let Ok((200, b)) = client.get_raw("/api/frames") {
            break serde_json::from_str::<serde_json::Value>(&b).unwrap();
        }
        assert!(Instant::now() < deadline, "v2xd-lab view did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Two frames a second for 30 s.
    let n = frames["count"].as_u64().unwrap();
    assert!((50..=70).contains(&n), "{frames}");
    let png = artifacts().join("lab-web-replay.png");
    let (dom, log) = browse(&format!("http://{addr2}/"), &png);
    check_page(&dom, &log, 12, &png);
    assert!(dom.contains("replay"), "replay mode not shown");
    // SAFETY: signals our own child.
    unsafe { libc::kill(view.id() as i32, libc::SIGTERM) };
    let _ = view.wait();
    let _ = std::fs::remove_dir_all(&out);
}
