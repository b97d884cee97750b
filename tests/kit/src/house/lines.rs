//! The file-length rule: no `*.rs` file of the workspace over
//! [`MAX_LINES`] lines, except the generated ones and the known
//! exceptions listed with the issue that will split them.

use std::path::{Path, PathBuf};

/// Longest a Rust source file may be.
pub const MAX_LINES: usize = 800;

/// Files over the limit that are allowed for now: (path from the workspace
/// root, the reason). Each names the issue that splits it; the check fails
/// as soon as a listed file is back under the limit, so the list only
/// shrinks.
pub const KNOWN_LONG: &[(&str, &str)] = &[];

/// Whether a file is generated code (never held to the limit).
fn generated(rel: &str) -> bool {
    rel.contains("/generated/") || rel.ends_with(".generated.rs")
}

/// A file over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongFile {
    /// Path from the workspace root.
    pub path: String,
    pub lines: usize,
}

/// Every `*.rs` file under `root` (no `target`, no hidden directories),
/// as paths relative to `root`, sorted.
pub fn rust_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".rs") {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

/// The files over `max` lines among `files` (relative to `root`), the
/// generated ones left out.
pub fn long_files(root: &Path, files: &[String], max: usize) -> Vec<LongFile> {
    files
        .iter()
        .filter(|rel| !generated(rel))
        .filter_map(|rel| {
            let text = std::fs::read_to_string(root.join(rel)).ok()?;
            let lines = text.lines().count();
            (lines > max).then(|| LongFile {
                path: rel.clone(),
                lines,
            })
        })
        .collect()
}

/// What is wrong with the lengths: files over the limit that are not
/// known, and known ones that are no longer long (remove them from the
/// list). Empty when all is well.
pub fn problems(long: &[LongFile], known: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for f in long {
        if !known.iter().any(|(k, _)| *k == f.path) {
            out.push(format!(
                "{} has {} lines (at most {MAX_LINES}): split it by idea",
                f.path, f.lines
            ));
        }
    }
    for (k, _) in known {
        if !long.iter().any(|f| f.path == *k) {
            out.push(format!(
                "{k} is listed in KNOWN_LONG but is not over {MAX_LINES} lines: remove it from the list"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_file_fails_unless_known_and_a_known_short_one_fails_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("a/src")).expect("dirs");
        std::fs::write(dir.path().join("a/src/long.rs"), "x\n".repeat(12)).expect("write");
        std::fs::write(dir.path().join("a/src/short.rs"), "x\n".repeat(3)).expect("write");
        let files = rust_files(dir.path());
        assert_eq!(files, ["a/src/long.rs", "a/src/short.rs"]);
        let long = long_files(dir.path(), &files, 10);
        assert_eq!(
            long,
            [LongFile {
                path: "a/src/long.rs".into(),
                lines: 12
            }]
        );
        assert_eq!(problems(&long, &[]).len(), 1);
        assert!(problems(&long, &[("a/src/long.rs", "t")]).is_empty());
        assert_eq!(
            problems(&long, &[("a/src/long.rs", "t"), ("a/src/short.rs", "t")]).len(),
            1
        );
    }
}
