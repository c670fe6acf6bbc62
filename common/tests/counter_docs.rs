//! docs/OPERATIONS.md lists the counters of the table, and only those.

use common::counters::{markdown, TABLE};
use std::path::PathBuf;

const BEGIN: &str = "<!-- counters:begin -->\n";
const END: &str = "<!-- counters:end -->";

fn operations_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/OPERATIONS.md")
}

#[test]
fn the_docs_counter_list_is_the_table() {
    let path = operations_md();
    let text = std::fs::read_to_string(&path).expect("docs/OPERATIONS.md");
    let b = text.find(BEGIN).expect("counters:begin marker") + BEGIN.len();
    let e = text.find(END).expect("counters:end marker");
    let want = markdown();
    if std::env::var_os("V2XD_WRITE_DOCS").is_some() {
        let new = format!("{}{want}{}", &text[..b], &text[e..]);
        std::fs::write(&path, new).expect("write docs");
        return;
    }
    assert_eq!(
        &text[b..e],
        want,
        "docs/OPERATIONS.md's counter list differs from the counter table; \
         V2XD_WRITE_DOCS=1 cargo test -p common --test counter_docs writes it anew"
    );
}

/// The prose tables of section 5 explain each counter: every name of the
/// table is there, and every `section.key` they name is in the table (or
/// is one of the settings, histograms and families the table leaves out).
#[test]
fn section_5_explains_every_counter_and_no_other() {
    let text = std::fs::read_to_string(operations_md()).expect("docs/OPERATIONS.md");
    let s5 = text
        .split("## 5. Counters")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("section 5");
    for d in TABLE {
        let name = d.name();
        let short = format!("`{}`", d.key);
        assert!(
            s5.contains(&format!("`{name}`")) || (d.section == "airtime" && s5.contains(&short)),
            "section 5 does not explain `{name}`"
        );
    }
    let known: Vec<String> = TABLE.iter().map(|d| d.name()).collect();
    let sections = [
        "link", "tun", "batching", "offload", "routing", "security", "backbone",
    ];
    for row in s5.lines().filter(|l| l.starts_with("| `")) {
        let first = row[3..].split('`').next().unwrap_or_default();
        for name in first.split(" / ") {
            let name = name.trim_matches('`');
            let Some((section, key)) = name.split_once('.') else {
                continue;
            };
            if !sections.contains(&section) || key.contains('.') || key.contains('<') {
                continue;
            }
            if ["enabled", "max_batch", "aggregate"].contains(&key) || key.starts_with("enabled") {
                continue;
            }
            assert!(
                known.contains(&name.to_string()),
                "section 5 explains `{name}`, which the counter table has not"
            );
        }
    }
}
