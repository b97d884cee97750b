//! MooseFS 3, the FUSE peer: one master and three chunk servers (goal 3)
//! from the Debian packages, mounted with mfsmount.
//!
//! MooseFS refuses loopback addresses, and no benchmark may target the
//! machine's external address, so its daemons run in a network namespace
//! made here (`ip netns`) joined to the host by a veth pair with addresses
//! of a private /24 that no interface of the host uses; the mount is made
//! from the host side over the veth. Everything is torn down on stop (and
//! on drop, when a benchmark fails half-way).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::Context;

use crate::sys;

const CHUNK_SERVERS: usize = 3;
const MASTER_CL_PORT: u16 = 9421;

/// Whether the packages and the privileges MooseFS needs are here.
pub fn available() -> Result<(), String> {
    for bin in [
        "mfsmaster",
        "mfschunkserver",
        "mfsmount",
        "mfssetgoal",
        "ip",
    ] {
        if sys::which(bin).is_none() && !Path::new("/usr/sbin").join(bin).is_file() {
            return Err(format!(
                "{bin} is missing (Debian packages moosefs-master, moosefs-chunkserver, moosefs-client, iproute2)"
            ));
        }
    }
    if !sys::is_root() {
        return Err("network namespaces and mounts need root".into());
    }
    Ok(())
}

fn bin(name: &str) -> PathBuf {
    sys::which(name).unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}

pub struct MooseFs {
    netns: String,
    veth_host: String,
    daemons: Vec<Child>,
    pub mount: PathBuf,
    mounted: bool,
}

/// A /24 of 10.213.N.0 that no address or route of the host uses.
fn free_subnet() -> anyhow::Result<u8> {
    let out = sys::run(Command::new(bin("ip")).args(["-o", "addr"]))?;
    let routes = sys::run(Command::new(bin("ip")).args(["route"]))?;
    let used = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&routes.stdout)
    );
    (0..=250u8)
        .find(|n| !used.contains(&format!("10.213.{n}.")))
        .context("every 10.213.N.0/24 is in use on this host")
}

impl MooseFs {
    /// Starts the namespace, the daemons and the mount at `dir/mnt`. With
    /// `fsync`, each chunk server fsyncs a chunk when it closes it
    /// (`HDD_FSYNC_BEFORE_CLOSE = 1`): by default MooseFS never fsyncs, so
    /// an fsync through its mount returns once the bytes are in the chunk
    /// servers' page cache.
    pub async fn start(dir: &Path, fsync: bool) -> anyhow::Result<MooseFs> {
        let tag = std::process::id() % 100_000;
        let subnet = free_subnet()?;
        let mut m = MooseFs {
            netns: format!("cairnbench{tag}"),
            veth_host: format!("cbh{tag}"),
            daemons: Vec::new(),
            mount: dir.join("mnt"),
            mounted: false,
        };
        let host_ip = format!("10.213.{subnet}.1");
        let ns_ip = format!("10.213.{subnet}.2");
        m.network(&host_ip, &ns_ip)
            .context("making the network namespace for MooseFS")?;
        m.daemons(dir, &ns_ip, fsync).await?;
        m.mount_it(&ns_ip).await?;
        Ok(m)
    }

    fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        sys::run(Command::new(bin("ip")).args(args)).map(|_| ())
    }

    fn network(&self, host_ip: &str, ns_ip: &str) -> anyhow::Result<()> {
        let veth_ns = self.veth_host.replacen("cbh", "cbn", 1);
        self.ip(&["netns", "add", &self.netns])?;
        self.ip(&[
            "link",
            "add",
            &self.veth_host,
            "type",
            "veth",
            "peer",
            "name",
            &veth_ns,
        ])?;
        self.ip(&["link", "set", &veth_ns, "netns", &self.netns])?;
        self.ip(&[
            "addr",
            "add",
            &format!("{host_ip}/24"),
            "dev",
            &self.veth_host,
        ])?;
        self.ip(&["link", "set", &self.veth_host, "up"])?;
        let ns = &self.netns;
        self.ip(&[
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            &format!("{ns_ip}/24"),
            "dev",
            &veth_ns,
        ])?;
        self.ip(&["netns", "exec", ns, "ip", "link", "set", &veth_ns, "up"])?;
        self.ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Runs `program ARGS` inside the namespace, in the foreground (so it
    /// is our child and dies with us).
    fn spawn_in_ns(&mut self, program: &str, args: &[&str], log: &Path) -> anyhow::Result<()> {
        let log = std::fs::File::create(log)?;
        let child = Command::new(bin("ip"))
            .args(["netns", "exec", &self.netns])
            .arg(bin(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        self.daemons.push(child);
        Ok(())
    }

    async fn daemons(&mut self, dir: &Path, ns_ip: &str, fsync: bool) -> anyhow::Result<()> {
        let master = dir.join("master");
        std::fs::create_dir_all(&master)?;
        std::fs::copy(
            "/var/lib/mfs/metadata.mfs.empty",
            master.join("metadata.mfs"),
        )
        .context("copy MooseFS's empty metadata (package moosefs-master)")?;
        std::fs::write(
            master.join("mfsexports.cfg"),
            "*\t/\trw,alldirs,admin,maproot=0:0\n",
        )?;
        std::fs::write(master.join("mfstopology.cfg"), "")?;
        let cfg = format!(
            "WORKING_USER = root\nWORKING_GROUP = root\nNICE_LEVEL = 0\nLOCK_MEMORY = 0\n\
             DATA_PATH = {d}\nEXPORTS_FILENAME = {d}/mfsexports.cfg\n\
             TOPOLOGY_FILENAME = {d}/mfstopology.cfg\n\
             MATOML_LISTEN_HOST = {ns_ip}\nMATOCS_LISTEN_HOST = {ns_ip}\n\
             MATOCL_LISTEN_HOST = {ns_ip}\nMATOCL_LISTEN_PORT = {MASTER_CL_PORT}\n\
             REPLICATIONS_DELAY_INIT = 0\n",
            d = master.display()
        );
        std::fs::write(master.join("mfsmaster.cfg"), cfg)?;
        let master_cfg = master.join("mfsmaster.cfg");
        self.spawn_in_ns(
            "mfsmaster",
            &["-f", "-c", &master_cfg.to_string_lossy(), "start"],
            &dir.join("mfsmaster.log"),
        )?;
        for i in 0..CHUNK_SERVERS {
            let cs = dir.join(format!("cs{i}"));
            std::fs::create_dir_all(cs.join("hdd"))?;
            std::fs::create_dir_all(cs.join("var"))?;
            std::fs::write(
                cs.join("mfshdd.cfg"),
                format!("{}\n", cs.join("hdd").display()),
            )?;
            let cfg = format!(
                "WORKING_USER = root\nWORKING_GROUP = root\nNICE_LEVEL = 0\nLOCK_MEMORY = 0\n\
                 DATA_PATH = {v}\nHDD_CONF_FILENAME = {d}/mfshdd.cfg\n\
                 MASTER_HOST = {ns_ip}\nBIND_HOST = {ns_ip}\nCSSERV_LISTEN_HOST = {ns_ip}\n\
                 CSSERV_LISTEN_PORT = {port}\nHDD_FSYNC_BEFORE_CLOSE = {sync}\n",
                v = cs.join("var").display(),
                d = cs.display(),
                port = 9422 + 10 * i,
                sync = u8::from(fsync),
            );
            let cfg_path = cs.join("mfschunkserver.cfg");
            std::fs::write(&cfg_path, cfg)?;
            self.spawn_in_ns(
                "mfschunkserver",
                &["-f", "-c", &cfg_path.to_string_lossy(), "start"],
                &dir.join(format!("mfschunkserver{i}.log")),
            )?;
        }
        // Ready when the three chunk servers hold connections to the master.
        // A daemon that exits or a failed `ss` ends the wait at once (the
        // inner error); "not yet" is the count so far.
        let (daemons, netns) = (&mut self.daemons, &self.netns);
        cairn_testkit::until(
            Duration::from_secs(60),
            Duration::from_millis(300),
            "the MooseFS chunk servers to join the master",
            || {
                let exited = daemons
                    .iter_mut()
                    .enumerate()
                    .find_map(|(i, d)| d.try_wait().ok().flatten().map(|s| (i, s)));
                let joined = match exited {
                    Some((i, status)) => Err(anyhow::anyhow!(
                        "MooseFS daemon {i} exited with {status}: see the mfs*.log files in {}",
                        dir.display()
                    )),
                    None => sys::run(Command::new(bin("ip")).args([
                        "netns",
                        "exec",
                        netns,
                        "ss",
                        "-Htn",
                        "state",
                        "established",
                        "( sport = :9420 )",
                    ]))
                    .map(|out| String::from_utf8_lossy(&out.stdout).lines().count()),
                };
                async move {
                    match joined {
                        Ok(n) if n < CHUNK_SERVERS => Err(format!("{n} of {CHUNK_SERVERS} joined")),
                        Ok(_) => Ok(Ok(())),
                        Err(e) => Ok(Err(e)),
                    }
                }
            },
        )
        .await?
    }

    async fn mount_it(&mut self, ns_ip: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.mount)?;
        sys::run(Command::new(bin("mfsmount")).arg(&self.mount).args([
            "-H",
            ns_ip,
            "-P",
            &MASTER_CL_PORT.to_string(),
        ]))
        .context("mfsmount")?;
        self.mounted = true;
        sys::run(
            Command::new(bin("mfssetgoal"))
                .args(["-r", "3"])
                .arg(&self.mount),
        )
        .context("mfssetgoal -r 3")?;

        // Goal 3 must be met: a probe file's chunk shows three copies.
        let probe = self.mount.join(".probe");
        std::fs::write(&probe, crate::s3load::payload(1, 1 << 20))?;
        std::fs::File::open(&probe)?.sync_all()?;
        cairn_testkit::until(
            Duration::from_secs(60),
            Duration::from_millis(300),
            "the MooseFS probe file to have 3 valid copies",
            || {
                let info = sys::run(Command::new(bin("mfsfileinfo")).arg(&probe));
                async move {
                    let Ok(out) = info else {
                        return Ok(info.map(drop));
                    };
                    let text = String::from_utf8_lossy(&out.stdout);
                    match text.matches("VALID").count() {
                        n if n < 3 => Err(format!("{n} valid copies:\n{text}")),
                        _ => Ok(Ok(())),
                    }
                }
            },
        )
        .await??;
        std::fs::remove_file(&probe)?;
        Ok(())
    }

    pub async fn stop(mut self) {
        self.teardown_mount();
        for d in &mut self.daemons {
            sys::terminate(d, Duration::from_secs(15)).await;
        }
        self.daemons.clear();
        self.teardown_net();
    }

    fn teardown_mount(&mut self) {
        if self.mounted {
            sys::unmount(&self.mount);
            self.mounted = false;
        }
    }

    fn teardown_net(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(bin("ip"))
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["link", "del", &self.veth_host]);
        quiet(&["netns", "del", &self.netns]);
    }
}

impl Drop for MooseFs {
    fn drop(&mut self) {
        self.teardown_mount();
        for d in &mut self.daemons {
            if let Ok(None) = d.try_wait() {
                let _ = d.kill();
                let _ = d.wait();
            }
        }
        self.teardown_net();
    }
}
