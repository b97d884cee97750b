//! The habits of the house that the compiler does not check, checked over
//! the workspace's source text: no `*.rs` file over [`lines::MAX_LINES`]
//! lines ([`lines`]), no cycle between the modules of a crate
//! ([`modules`]), and no forbidden stack in a crate's dependencies
//! ([`deps`]). Known exceptions are listed here with the issue that
//! removes them; an exception that no longer applies fails the check too,
//! so the lists only shrink. `tests/house.rs` of this crate runs it, and
//! `conformance/test-all` runs that test before anything else.

use std::path::{Path, PathBuf};

pub mod deps;
pub mod lines;
pub mod modules;

/// Cycles allowed for now, as (crate root file, parent module, members
/// joined by ","). TODO(issue 24): each is broken by the owners of the
/// files named in the check's message, then removed from here.
pub const KNOWN_CYCLES: &[(&str, &str, &str)] = &[];

/// The workspace root (two levels above this crate). Read from the
/// environment `cargo test` runs the check in when it is set, so that a
/// binary built in another checkout sharing the target directory checks
/// the tree it is run from, not the one it was built from.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Every cycle of every crate under `root`.
pub fn cycles(root: &Path) -> Vec<modules::Cycle> {
    modules::crate_roots(root)
        .iter()
        .flat_map(|r| modules::Crate::read(root, r).cycles())
        .collect()
}

/// What is wrong with the cycles: unknown ones, and known ones gone.
pub fn cycle_problems(found: &[modules::Cycle], known: &[(&str, &str, &str)]) -> Vec<String> {
    let is_known = |c: &modules::Cycle| {
        known
            .iter()
            .any(|(k, p, m)| *k == c.krate && *p == c.parent && *m == c.members.join(","))
    };
    let mut out: Vec<String> = found
        .iter()
        .filter(|c| !is_known(c))
        .map(|c| format!("module cycle: {c}"))
        .collect();
    for (k, p, m) in known {
        if !found
            .iter()
            .any(|c| c.krate == *k && c.parent == *p && c.members.join(",") == *m)
        {
            out.push(format!(
                "{k}: the cycle {{{m}}} in {p} is listed in KNOWN_CYCLES but is gone: remove it"
            ));
        }
    }
    out
}
