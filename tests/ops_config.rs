//! `--config FILE`: a daemon takes its flags from a TOML file, the command
//! line overrides the file, and a bad file is refused with its line.

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{cairn_bin, path_str};

fn cairn(args: &[&str]) -> std::process::Output {
    Command::new(cairn_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the cairn binary")
}

/// `cairn up --config FILE ARGS`, until it says (in `listen_file`) where
/// its S3 listens; returns it and that address.
fn up(config: &Path, listen_file: &Path, args: &[&str]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["up", "--config", path_str(config)])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cairn_testkit::listen_into(&mut cmd, listen_file);
    let mut child = cmd.spawn().expect("spawn cairn up");
    let s3 = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cairn_testkit::bound(listen_file, "s3", &mut child, Duration::from_secs(60))
    }));
    match s3 {
        Ok(addr) => (child, addr),
        Err(panic) => {
            stop(child);
            std::panic::resume_unwind(panic)
        }
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn up_takes_its_flags_from_the_file_and_the_command_line_wins() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // Two loopback addresses on ports the system picks: which one S3
    // listens on tells which setting won.
    let (from_file, from_cli): (IpAddr, IpAddr) = ([127, 0, 0, 2].into(), [127, 0, 0, 1].into());
    let config = dir.path().join("up.toml");
    std::fs::write(
        &config,
        format!(
            "# a local cluster\ndata = \"{}\"\nlisten = \"{from_file}:0\"\nregion = \"eu-1\"\n",
            path_str(&data)
        ),
    )
    .expect("write the config");
    let listen_file = dir.path().join("up.listen");

    let (child, s3) = up(&config, &listen_file, &[]);
    assert_eq!(s3.ip(), from_file, "S3 listens where the file says");
    assert!(
        data.join("etc").is_dir(),
        "the cluster lives where the file says"
    );
    stop(child);

    let (child, s3) = up(
        &config,
        &listen_file,
        &["--listen", &format!("{from_cli}:0")],
    );
    assert_eq!(
        s3.ip(),
        from_cli,
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
