//! The house rules over the whole workspace: file lengths, module cycles
//! and forbidden dependencies (see `cairn_testkit::house`). Prints every
//! finding, then fails.

use cairn_testkit::house::{self, deps, lines};

#[test]
fn no_file_over_the_limit_and_no_module_cycle() {
    let root = house::workspace_root();
    let files = lines::rust_files(&root);
    assert!(
        files.len() > 50,
        "found only {} Rust files under {}: wrong root?",
        files.len(),
        root.display()
    );
    let long = lines::long_files(&root, &files, lines::MAX_LINES);
    for f in &long {
        eprintln!("{:>6} {}", f.lines, f.path);
    }
    let mut problems = lines::problems(&long, lines::KNOWN_LONG);
    let cycles = house::cycles(&root);
    for c in &cycles {
        eprintln!("cycle: {c}");
    }
    problems.extend(house::cycle_problems(&cycles, house::KNOWN_CYCLES));
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_crate_reaches_a_stack_it_must_not() {
    let root = house::workspace_root();
    // The check reads the tree of the crate it guards: an empty answer
    // would be a wrong root or a failed cargo, not a clean crate.
    for (krate, _, _) in deps::FORBIDDEN {
        let reached = deps::normal_packages(&root, krate).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            reached.iter().any(|p| p == krate) && reached.len() > 1,
            "cargo tree of {krate} names neither it nor a dependency: {reached:?}"
        );
    }
    let problems = deps::problems(&root, deps::FORBIDDEN).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
