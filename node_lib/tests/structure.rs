//! The modules of the daemon's crates import each other without circles:
//! each can be read (and changed) knowing only the ones below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `module -> modules it names` for the flat crate in `src`, from
/// `crate::NAME` paths outside `#[cfg(test)]` code.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("src dir") {
            let p = e.expect("entry").path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "bin") {
                dirs.push(p.clone());
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            // A directory's `mod.rs` is the module named after it.
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let name = if stem == "mod" {
                dir.file_name().unwrap().to_string_lossy().into_owned()
            } else {
                stem
            };
            if name != "lib" && name != "main" {
                let text = std::fs::read_to_string(&p).expect("read");
                // Code only: no comments (docs may name any module), no tests.
                files.insert(name, code_only(&text));
            }
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (name, code) in &files {
        let mut deps = BTreeSet::new();
        for part in code.split("crate::").skip(1) {
            let m: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if m != *name && names.contains(&m) {
                deps.insert(m);
            }
            // `use crate::{a, b::C}`
            if let Some(group) = part.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or_default().split(',') {
                    let m = item
                        .trim()
                        .split("::")
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if m != *name && names.contains(&m) {
                        deps.insert(m);
                    }
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    g
}

/// A circle in `g`, if there is one.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(g, n, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// The crates whose code the structure tests read: the daemons' and the
/// tools around them.
const CHECKED: [&str; 13] = [
    "node_lib",
    "protocol",
    "obu_lib",
    "rsu_lib",
    "common",
    "secure",
    "api",
    "datapath",
    "sim",
    "lab",
    "benches",
    "testbed",
    "packaging",
];

#[test]
fn no_import_circles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The end-to-end driver's modules (a binary of `benches`) as well.
    let flat = CHECKED
        .iter()
        .filter(|k| !["sim", "benches", "packaging"].contains(k));
    for krate in flat.chain(&["benches/src/bin/e2e"]) {
        let dir = if krate.contains('/') {
            root.join(krate)
        } else {
            root.join(krate).join("src")
        };
        let g = graph(&dir);
        assert!(!g.is_empty(), "{krate}: no modules found");
        if let Some(c) = circle(&g) {
            panic!(
                "{krate}: modules import each other in a circle: {}",
                c.join(" -> ")
            );
        }
    }
}

#[test]
fn a_circle_is_found() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        circle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    g.get_mut("c").unwrap().clear();
    assert_eq!(circle(&g), None);
}

/// Functions of `text` (code before `#[cfg(test)]`) longer than `limit`
/// lines, as (name, first line, lines).
fn long_functions(text: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let head = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("async ")
            .trim_start_matches("const ")
            .trim_start_matches("unsafe ");
        if head.starts_with("fn ") && !t.ends_with(';') {
            let name: String = head[3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let (mut depth, mut j, mut opened) = (0i64, i, false);
            while j < lines.len() {
                let l = lines[j];
                depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                opened |= l.contains('{');
                if opened && depth <= 0 {
                    break;
                }
                j += 1;
            }
            if j + 1 - i > limit {
                out.push((name, i + 1, j + 1 - i));
            }
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Rooms a reader can take in at once: no function of the daemons' crates
/// and of the tools around them (the lab, the benchmarks, the testbed;
/// tests aside) is longer than 120 lines.
#[test]
fn no_function_is_longer_than_120_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    for krate in CHECKED {
        for (file, text) in rust_files(&root.join(krate).join("src")) {
            for (name, line, n) in long_functions(&text, 120) {
                long.push(format!("{file}:{line} {name} ({n} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over 120 lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_function_is_found() {
    let body = "    x();\n".repeat(130);
    let text = format!("fn short() {{\n}}\n\npub fn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&text, 120), [("long".to_string(), 4, 132)]);
}

/// The crates named in `[dependencies]` of `krate`'s manifest.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).expect("manifest");
    let section = text
        .split("\n[dependencies]\n")
        .nth(1)
        .and_then(|t| t.split("\n[").next())
        .unwrap_or_default();
    section
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['=', ' ', '.']).next())
        .map(str::to_string)
        .collect()
}

/// Every `.rs` file below `dir`, as (path, text).
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read");
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

/// `krate`'s code outside tests, comments dropped, as (file, text).
fn code_of(krate: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    rust_files(&root.join(krate).join("src"))
        .into_iter()
        .map(|(file, text)| {
            let code = code_only(&text);
            (file, code)
        })
        .collect()
}

/// A file's code outside `#[cfg(test)]`, its comment lines dropped.
fn code_only(text: &str) -> String {
    text.split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sans-IO crates (the protocol, the roles, the security layer, the
/// shared types, the engine) build on no runtime, socket, HTTP or daemon
/// crate and not on the HTTP API's types (the daemon library converts);
/// `secure` and the state machines do no file or environment I/O.
#[test]
fn the_sans_io_crates_keep_their_boundaries() {
    let daemon_side = [
        "api",
        "node_lib",
        "tokio",
        "axum",
        "hyper",
        "rtnetlink",
        "ureq",
        "libc",
        "serde_json",
    ];
    for krate in [
        "protocol", "obu_lib", "rsu_lib", "secure", "common", "datapath",
    ] {
        let deps = dependencies(krate);
        assert!(
            !deps.is_empty() || krate == "common",
            "{krate}: no dependencies read"
        );
        for d in daemon_side {
            assert!(!deps.contains(d), "{krate} depends on {d}");
        }
        for (file, code) in code_of(krate) {
            for io in [
                "std::fs",
                "std::env",
                "std::net::UdpSocket",
                "std::net::TcpStream",
                "api::",
            ] {
                // `common` defines the wire, not the API; `std::env` in the
                // others would be configuration read behind the daemon's back.
                assert!(!code.contains(io), "{file}: uses {io}");
            }
        }
    }
}

#[test]
fn a_dependency_is_read_from_a_manifest() {
    let deps = dependencies("node_lib");
    assert!(
        deps.contains("protocol") && deps.contains("tokio"),
        "{deps:?}"
    );
}
