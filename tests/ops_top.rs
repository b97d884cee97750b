//! `cairn top` against a live cluster, in a real terminal: tmux runs it
//! in a detached session; the test types keys (send-keys) and reads the
//! screen (capture-pane).

mod common;
mod ops_support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use common::{path_str, TestCluster, CLUSTER};
use ops_support::eventually;

/// A tmux server on its own socket in a temp directory, killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux (is it installed? conformance/install-deps)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        assert!(self.run(&["send-keys", "-t", "top", keys]).status.success());
    }

    /// Waits until the screen satisfies `check`, showing it on failure.
    fn wait_screen(&self, limit: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        cairn_testkit::within(limit, what, || {
            let screen = self.screen();
            if check(&screen) {
                Ok(screen)
            } else {
                Err(format!("the screen:\n{screen}"))
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Rows of the chunk-server table: lines that name a host h1..h3.
fn cs_rows<'a>(screen: &'a str, state: &str) -> Vec<&'a str> {
    screen
        .lines()
        .filter(|l| l.contains(state) && ["h1", "h2", "h3"].iter().any(|h| l.contains(h)))
        .collect()
}

#[test]
fn top_shows_the_chunk_servers_follows_keys_and_sees_a_cs_go_offline() {
    let mut cluster = TestCluster::start(&["h1", "h2", "h3"]);
    // A short offline timeout, so that a killed CS shows within seconds.
    cluster.restart_mds(&["--offline-after", "2", "--lost-after", "600"]);

    let tmux = Tmux::new(cluster.root.path());
    let etc = format!("CAIRN_CONFIG_DIR={}", path_str(&cluster.etc));
    let name = format!("CAIRN_CLUSTER={CLUSTER}");
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "200",
        "-y",
        "50",
        "-e",
        &etc,
        "-e",
        &name,
        "-e",
        "RUST_LOG=off",
        path_str(&common::cairn_bin()),
        "top",
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let screen = tmux.wait_screen(Duration::from_secs(30), "three active chunk servers", |s| {
        cs_rows(s, "active").len() == 3
    });
    assert!(screen.contains("Metadata servers"), "{screen}");
    assert!(screen.contains("COMMIT%"), "{screen}");
    assert!(screen.contains("QDEPTH"), "{screen}");
    assert!(screen.contains("Events"), "{screen}");
    assert!(
        screen.contains("healthy") || screen.contains("degraded"),
        "{screen}"
    );

    // `i`: the clients. A gateway reports within seconds, with the
    // anonymous request it refused.
    let s3 = ops_support::free_addr();
    let _gateway = ops_support::Daemon(
        cluster
            .command()
            .args(["gateway", "--listen", &s3])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the gateway"),
    );
    eventually(
        Duration::from_secs(20),
        "the gateway to refuse an anonymous GET",
        || {
            ops_support::http_get(&s3, "/")
                .ok()
                .filter(|(s, _)| *s == 403)
        },
    );
    tmux.keys("i");
    let screen = tmux.wait_screen(Duration::from_secs(20), "the gateway's row", |s| {
        s.contains("Clients (1)") && s.lines().any(|l| l.contains("gateway") && l.contains(&s3))
    });
    assert!(!screen.contains("Metadata servers"), "{screen}");

    // `c`: the chunk servers only.
    tmux.keys("c");
    tmux.wait_screen(Duration::from_secs(10), "the chunk-server view", |s| {
        s.contains("Chunk servers (3") && !s.contains("Metadata servers") && !s.contains("Events (")
    });

    // A chunk server dies: its row turns offline.
    cluster.kill_cs(1);
    let screen = tmux.wait_screen(Duration::from_secs(30), "a chunk server offline", |s| {
        cs_rows(s, "offline").len() == 1
    });
    assert_eq!(cs_rows(&screen, "active").len(), 2, "{screen}");
    assert!(cs_rows(&screen, "offline")[0].contains("h2"), "{screen}");

    // `e`: the event log says so.
    tmux.keys("e");
    tmux.wait_screen(Duration::from_secs(10), "the offline event", |s| {
        s.contains("Events (") && s.contains("offline: no heartbeat")
    });

    // `q`: top exits, and with it the tmux session.
    tmux.keys("q");
    eventually(Duration::from_secs(10), "cairn top to exit", || {
        (!tmux.run(&["has-session", "-t", "top"]).status.success()).then_some(())
    });
}
