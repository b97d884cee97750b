//! Keeps SEMANTICS.md true to the code: every test it cites exists.

use std::path::Path;

fn sources(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

#[test]
fn every_test_semantics_md_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("SEMANTICS.md")).expect("SEMANTICS.md");
    let mut code = String::new();
    sources(&root.join("src"), &mut code);
    sources(&root.join("tests"), &mut code);
    // Durability is tested where it is made: end to end, and in the MDS.
    sources(&root.join("../tests"), &mut code);
    sources(&root.join("../cluster/mds/src"), &mut code);
    sources(&root.join("../cluster/meta/src"), &mut code);
    let mut cited = 0;
    for (i, part) in doc.split('`').enumerate() {
        // Odd parts are inside backticks; test names are snake_case paths.
        if i % 2 == 0 || part.contains(' ') || !part.contains('_') {
            continue;
        }
        let last = part.rsplit("::").next().unwrap_or(part);
        let is_test_like = part.contains("::") || last.split('_').count() >= 4;
        let snake = part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':');
        if !is_test_like || !snake {
            continue;
        }
        cited += 1;
        assert!(
            code.contains(&format!("fn {last}(")),
            "SEMANTICS.md cites `{part}`, which no longer exists"
        );
    }
    assert!(
        cited >= 15,
        "only {cited} tests cited: the parser lost them"
    );
}
