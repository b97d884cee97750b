//! `--config FILE`: a daemon takes its flags from a TOML file, the command
//! line overrides the file, and a bad file is refused with its line.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{cairn_bin, eventually, path_str, reserve_port};

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(cairn_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the cairn binary")
}

/// `cairn up --config FILE ARGS`, until its S3 port answers.
fn up(config: &Path, args: &[&str], port: u16) -> Child {
    let mut child = Command::new(cairn_bin())
        .args(["up", "--config", path_str(config)])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cairn up");
    let answered = std::panic::catch_unwind(|| {
        eventually(Duration::from_secs(60), "S3 on the configured port", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
    });
    if answered.is_err() {
        let _ = child.kill();
        panic!("cairn up did not listen on port {port}");
    }
    child
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn up_takes_its_flags_from_the_file_and_the_command_line_wins() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (from_file, from_cli) = (reserve_port(), reserve_port());
    let config = dir.path().join("up.toml");
    std::fs::write(
        &config,
        format!(
            "# a local cluster\ndata = \"{}\"\nlisten = \"127.0.0.1:{from_file}\"\nregion = \"eu-1\"\n",
            path_str(&data)
        ),
    )
    .expect("write the config");

    let child = up(&config, &[], from_file);
    assert!(
        data.join("etc").is_dir(),
        "the cluster lives where the file says"
    );
    stop(child);

    let child = up(
        &config,
        &["--listen", &format!("127.0.0.1:{from_cli}")],
        from_cli,
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", from_file)).is_err(),
        "the command line's --listen replaced the file's"
    );
    stop(child);
}

#[test]
fn bad_files_are_refused_with_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "region = \"x\"\nlistn = \"127.0.0.1:1\"\n",
            "gw.toml:2: `listn` is not a setting of `cairn gateway`",
        ),
        (
            "region = \"x\"\n\nlisten = 127.0.0.1:1\n",
            "gw.toml:3: not valid TOML",
        ),
        ("log-json = 1\n", "gw.toml:1: `log-json` is a switch"),
    ];
    for (text, want) in cases {
        let config = dir.path().join("gw.toml");
        std::fs::write(&config, text).expect("write the config");
        let out = cairn(&["-c", "nowhere", "gateway", "--config", path_str(&config)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert!(stderr.contains(want), "{text:?}: {stderr}");
    }
    let out = cairn(&["gateway", "--help"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("--config <FILE>"),
        "the daemons' help lists --config"
    );
}
