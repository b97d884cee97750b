//! `cairn cert`: the node certificates of mutual TLS after joining. `list`
//! shows every certificate the MDS leader knows with its end, and the
//! revoked ones; `revoke` makes the whole cluster refuse one; `rotate`
//! renews this host's own without stopping anything (running processes
//! pick up the new files within seconds; connections already open stay).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cairn_client::{ClientOptions, NodeCert, RevokeTarget};
use cairn_common::{
    node_cert::{cert_file, key_file, node_request, Role},
    pki::{self, utc_date},
    tls::{parse_serial_hex, serial_hex},
    ClusterConfig,
};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::client_for;

#[derive(Subcommand)]
pub enum CertCommand {
    /// Show the node certificates the MDS leader knows (its own, each chunk
    /// server's, each gateway's and mount's) with their ends, and the
    /// revoked ones.
    ///
    /// Example: cairn -c prod cert list
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make every process of the cluster refuse a node certificate, at
    /// once for new connections and at the next call on open ones.
    ///
    /// NODE is the certificate file (PEM, e.g. a copy of the host's
    /// cs.pem), a chunk server (cs3: the certificate it shows now), or a
    /// serial in hex as `cairn cert list` prints it. The host gets a new
    /// certificate with `cairn auth-node`.
    ///
    /// Example: cairn -c prod cert revoke cs3
    Revoke { node: String },
    /// Renew this host's node certificates (each role it has, or those
    /// named) with new keys, signed by the cluster CA through the MDS;
    /// the processes of this host use them within seconds, without a
    /// restart. With --mds-dir, also the certificate of the MDS whose data
    /// directory it is (that host holds the CA).
    ///
    /// Example: cairn -c prod cert rotate --mds-dir /var/lib/cairn/mds
    Rotate {
        /// cs, client or mds; repeat for several. Default: each role with
        /// a certificate in this host's cluster config directory.
        #[arg(long)]
        role: Vec<String>,
        /// The data directory of an MDS on this host: renew its own
        /// certificate too.
        #[arg(long)]
        mds_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct CertArgs {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Serialize)]
struct CertListView<'a> {
    certs: &'a [NodeCert],
    revoked: Vec<RevokedView>,
}

#[derive(Serialize)]
struct RevokedView {
    serial: String,
    subject: String,
    not_after: i64,
    revoked_unix_secs: i64,
}

pub async fn cert(cluster: Option<&str>, args: CertArgs) -> anyhow::Result<()> {
    match args.command {
        CertCommand::List { json } => list(cluster, json).await,
        CertCommand::Revoke { node } => revoke(cluster, &node).await,
        CertCommand::Rotate { role, mds_dir } => rotate(cluster, &role, mds_dir.as_deref()).await,
    }
}

async fn list(cluster: Option<&str>, json: bool) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let stat = client
        .stat()
        .await
        .context("cannot read the cluster's state")?;
    let revoked: Vec<RevokedView> = client
        .revoked_certs()
        .await
        .context("cannot read the revocation list")?
        .into_iter()
        .map(|r| RevokedView {
            serial: serial_hex(&r.serial),
            subject: r.subject,
            not_after: r.not_after,
            revoked_unix_secs: r.revoked_ns.div_euclid(1_000_000_000),
        })
        .collect();
    if json {
        let view = CertListView {
            certs: &stat.certs,
            revoked,
        };
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    print_ends(&stat.certs);
    if revoked.is_empty() {
        println!("no certificate is revoked");
    } else {
        println!(
            "{:<42} {:<22} {:<22} SUBJECT",
            "REVOKED SERIAL", "REVOKED", "ENDS"
        );
        for r in &revoked {
            println!(
                "{:<42} {:<22} {:<22} {}",
                r.serial,
                utc_date(r.revoked_unix_secs),
                utc_date(r.not_after),
                r.subject
            );
        }
    }
    Ok(())
}

/// The certificate table of `cairn stat` and `cairn cert list`: each
/// node's certificate, when it ends and in how many days.
pub fn print_ends(certs: &[NodeCert]) {
    if certs.is_empty() {
        return;
    }
    let now = cairn_common::time::now_secs() as i64;
    println!(
        "{:<22} {:<7} {:<22} {:>6}  SERIAL",
        "CERTIFICATE OF", "ROLE", "ENDS", "DAYS"
    );
    for c in certs {
        let days = (c.not_after - now).div_euclid(86_400);
        let warn = if c.not_after - now < pki::RENEW_BEFORE_SECS {
            "  <- renew: cairn cert rotate"
        } else {
            ""
        };
        println!(
            "{:<22} {:<7} {:<22} {:>6}  {}{}",
            c.node,
            c.role,
            utc_date(c.not_after),
            days,
            c.serial,
            warn
        );
    }
}

/// What `cairn cert revoke NODE` names.
fn revoke_target(node: &str) -> anyhow::Result<RevokeTarget> {
    let path = Path::new(node);
    if path.is_file() {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if pki::first_cert_der(&pem).is_none() {
            bail!("{} holds no PEM certificate", path.display());
        }
        return Ok(RevokeTarget::Pem(pem));
    }
    if let Some(id) = node.strip_prefix("cs").and_then(|n| n.parse::<u32>().ok()) {
        return Ok(RevokeTarget::ChunkServer(id));
    }
    if let Some(serial) = parse_serial_hex(node) {
        return Ok(RevokeTarget::Serial(serial));
    }
    bail!(
        "`{node}` names no certificate: give a certificate file, a chunk server (cs3) or a \
         serial in hex as `cairn cert list` prints it"
    )
}

async fn revoke(cluster: Option<&str>, node: &str) -> anyhow::Result<()> {
    let target = revoke_target(node)?;
    let client = client_for(cluster).await?;
    client
        .revoke_cert(target)
        .await
        .with_context(|| format!("cannot revoke the certificate of {node}"))?;
    println!(
        "revoked: every process of the cluster refuses it within seconds; the host gets a new \
         certificate with `cairn auth-node`"
    );
    Ok(())
}

async fn rotate(
    cluster: Option<&str>,
    roles: &[String],
    mds_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let name = crate::cluster_name(cluster)?;
    let config = ClusterConfig::load_from(&crate::config_dir(), &name)?;
    let dir = crate::config_dir().join(&name);
    let roles: Vec<Role> = if roles.is_empty() {
        [Role::Cs, Role::Client, Role::Mds]
            .into_iter()
            .filter(|r| key_file(&dir, *r).is_file())
            .collect()
    } else {
        roles
            .iter()
            .map(|r| Role::parse(r).with_context(|| format!("--role {r}: use cs, client or mds")))
            .collect::<anyhow::Result<_>>()?
    };
    if roles.is_empty() && mds_dir.is_none() {
        bail!(
            "no node certificate in {}: this host has not joined (`cairn auth-node`)",
            dir.display()
        );
    }
    let local_ca = std::fs::read_to_string(dir.join(pki::CA_CERT))
        .with_context(|| format!("cannot read the cluster CA in {}", dir.display()))?;
    for role in roles {
        // Renewed through the certificate being renewed: no password.
        let client = cairn_client::Client::connect_as(&config, ClientOptions::default(), role)
            .with_context(|| format!("cannot use this host's {} certificate", role.as_str()))?;
        let (key, csr_pem) = node_request()?;
        let renewed = client
            .renew_cert(csr_pem)
            .await
            .with_context(|| format!("the MDS did not renew the {} certificate", role.as_str()))?;
        if pki::first_cert_der(&renewed.ca_pem) != pki::first_cert_der(&local_ca) {
            bail!("the MDS answered with another CA than this host's: nothing was changed");
        }
        pki::write_pair(
            &cert_file(&dir, role),
            &renewed.cert_pem,
            &key_file(&dir, role),
            &key.serialize_pem(),
        )?;
        print_renewed(role.as_str(), &renewed.cert_pem);
    }
    if let Some(mds_dir) = mds_dir {
        let pem = cairn_mds::rotate_own_cert(mds_dir, &config.cluster_id).with_context(|| {
            format!("cannot renew the MDS certificate in {}", mds_dir.display())
        })?;
        print_renewed("mds", &pem);
    }
    Ok(())
}

fn print_renewed(role: &str, cert_pem: &str) {
    let der = pki::first_cert_der(cert_pem).unwrap_or_default();
    match cairn_common::tls::cert_id(&der) {
        Some(id) => println!(
            "renewed the {role} certificate: serial {}, ends {}",
            serial_hex(&id.serial),
            utc_date(id.not_after)
        ),
        None => println!("renewed the {role} certificate"),
    }
}
