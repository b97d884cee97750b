//! `cairn up` as a user first meets it: what it prints before it is ready.

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::*;

/// Lines `cairn up` may print, on stdout and stderr together, before it is
/// ready: what a user needs, not the libraries' chatter.
const MOST_LINES: usize = 10;

#[test]
fn cairn_up_says_what_a_user_needs_in_a_few_lines() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let out_path = root.path().join("up.out");
    let err_path = root.path().join("up.err");
    let listen_file = root.path().join("up.listen");
    // Every part on a port the system picks, read back from the listen
    // file.
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["up", "--data", path_str(&data), "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    cairn_testkit::listen_into(&mut cmd, &listen_file);
    let mut child = cmd.spawn().expect("spawn cairn up");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let ready = eventually(
        Duration::from_secs(60),
        "cairn up to say it is ready",
        || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(format!("cairn up exited with {status}")));
            }
            read(&out_path)
                .contains("from another shell")
                .then_some(Ok(()))
        },
    );
    // What it printed up to the line that says it is ready: the shell line
    // is the last one `up` prints, once every part runs.
    let out = read(&out_path);
    let err = read(&err_path);
    let s3 = cairn_testkit::read_bound(&listen_file, "s3");
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = ready {
        panic!("{e}:\n{out}\n{err}");
    }
    let lines = out.lines().count() + err.lines().count();
    assert!(
        lines <= MOST_LINES,
        "{lines} lines before ready, {MOST_LINES} at most:\n--- stdout\n{out}--- stderr\n{err}"
    );
    let s3 = s3.expect("cairn up announces its S3 listener in the listen file");
    assert_ne!(s3.port(), 0);
    assert!(out.contains(&format!("S3:  http://{s3}")), "{out}");
    // The keys printed are the ones stored for the user.
    let creds = read(&data.join("s3-credentials"));
    let value = |name: &str| {
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {name} in s3-credentials: {creds}"))
    };
    let (id, secret) = (value("access_key"), value("secret_key"));
    assert!(!id.is_empty() && !secret.is_empty(), "{creds}");
    assert!(out.contains(&format!("S3 access key: {id}")), "{out}");
    assert!(out.contains(&format!("S3 secret key: {secret}")), "{out}");
    assert!(
        out.contains("CAIRN_CLUSTER=local cairn stat"),
        "the line for another shell: {out}"
    );
    assert!(
        !err.contains("openraft"),
        "no consensus chatter by default: {err}"
    );
}
