//! `cairn stat --json` has the fields docs/operating.md documents, and
//! documents every field it has.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::TestCluster;

/// The field paths listed in the `cairn stat --json` section of the doc.
fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md");
    let doc = std::fs::read_to_string(path).expect("read docs/operating.md");
    let start = doc
        .find("## `cairn stat --json`")
        .expect("the doc has a `cairn stat --json` section");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(field, _)| field.to_string()))
        .collect()
}

/// The field paths of a reply: top-level keys, and `array[].key` for the
/// keys of the objects in arrays. Maps are leaves.
fn present(v: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut fields = BTreeSet::new();
    let mut empty_arrays = BTreeSet::new();
    let obj = v.as_object().expect("stat --json prints an object");
    for (k, val) in obj {
        fields.insert(k.clone());
        if let Some(items) = val.as_array() {
            if items.is_empty() {
                empty_arrays.insert(k.clone());
            }
            for item in items {
                for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    fields.insert(format!("{k}[].{key}"));
                }
            }
        }
    }
    (fields, empty_arrays)
}

#[test]
fn stat_json_has_the_documented_fields_and_no_others() {
    let cluster = TestCluster::start(&["h1", "h2", "h3"]);
    // Some data, so that the counts are not all zero.
    let src = cluster.root.path().join("f.bin");
    common::write_pattern_file(&src, 3, 100_000);
    common::assert_success(&cluster.cairn(&["mb", "docs"]), "mb");
    common::assert_success(
        &cluster.cairn(&["put", common::path_str(&src), "docs/f.bin"]),
        "put",
    );
    // The MDS's watcher records the chunk servers coming online within a
    // second or so of their first heartbeats.
    common::eventually(Duration::from_secs(15), "the first events", || {
        let json = cluster.stat_json();
        (!json["events"].as_array()?.is_empty()).then_some(())
    });
    let json = cluster.stat_json();
    let (fields, empty) = present(&json);
    // The lists whose entries the doc describes are not empty here (the
    // chunk servers came online: that is an event).
    for list in ["chunk_servers", "events", "mds"] {
        assert!(!empty.contains(list), "`{list}` is empty: {json:#}");
    }
    let documented = documented();
    assert!(documented.len() > 30, "the doc lists only {documented:?}");
    for field in &documented {
        let parent_empty = field
            .split_once("[]")
            .is_some_and(|(parent, _)| empty.contains(parent));
        assert!(
            fields.contains(field) || parent_empty,
            "documented field `{field}` is missing from stat --json: {json:#}"
        );
    }
    for field in &fields {
        assert!(
            documented.contains(field),
            "stat --json has `{field}`, which docs/operating.md does not document"
        );
    }
    // The answering MDS counts its durable commits and the time in them.
    let me = json["mds"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["uptime_secs"].as_u64() > Some(0)))
        .expect("the answering MDS's entry");
    assert!(me["durable_commits"].as_u64() > Some(0), "{me}");
    assert!(me["commit_secs"].as_f64().is_some_and(|s| s > 0.0), "{me}");
    assert_eq!(json["chunks"].as_u64(), Some(1));
    assert_eq!(json["chunk_servers"].as_array().map(Vec::len), Some(3));
    // Three replicas over three active servers: a third of their free space.
    let space = &json["space"];
    assert_eq!(space["replicas"].as_u64(), Some(3));
    let raw_free = space["raw_free"].as_u64().unwrap_or(0);
    assert!(raw_free > 0, "{space:#}");
    assert_eq!(space["allocatable"].as_u64(), Some(raw_free / 3));
    assert!(json["events"].as_array().is_some_and(|e| e
        .iter()
        .any(|e| e["message"].as_str().is_some_and(|m| m.contains("online")))));
}
