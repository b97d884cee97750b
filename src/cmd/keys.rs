//! S3 access keys and bucket permissions: `cairn key ...`, `cairn bucket
//! allow|revoke|list`, and the owner a bucket made outside S3 gets (`cairn
//! mb`, `cairn mount`). The rule they feed is the gateway's `access`
//! module: closed by default, an admin key stands in for the owner of a
//! bucket without one.

use anyhow::Context;
use cairn_client::{AccessKey, BucketPermission, Client};
use cairn_common::ClusterError;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::client_for;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an access key; its secret is printed once.
    ///
    /// Example: cairn -c prod key create backup-robot --json
    Create {
        /// A name that says what the key is for.
        name: String,
        /// An operator's key: it stands in for the owner of every bucket
        /// that has none (made by a mount without --owner, or before
        /// owners were recorded); `cairn mb` without --owner gives new
        /// buckets to the oldest admin key.
        #[arg(long)]
        admin: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List access keys (without their secrets): admin or not, the buckets
    /// each owns and its grants (r read, w write, o owner).
    ///
    /// Example: cairn -c prod key list
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an access key.
    ///
    /// Example: cairn -c prod key delete CK2GH6...
    Delete { key_id: String },
}

#[derive(Subcommand)]
pub enum BucketCommand {
    /// Give a key read and/or write access to a bucket (added to what it
    /// has).
    ///
    /// Example: cairn -c prod bucket allow CK2GH6... photos --read --write
    Allow {
        key_id: String,
        bucket: String,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
        /// Make the key an owner of the bucket (all rights).
        #[arg(long)]
        owner: bool,
    },
    /// Take rights on a bucket away from a key: those named, or all of its
    /// grant when none is. The owner recorded at the bucket's creation
    /// keeps its rights.
    ///
    /// Example: cairn -c prod bucket revoke CK2GH6... photos --write
    Revoke {
        key_id: String,
        bucket: String,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
        #[arg(long)]
        owner: bool,
    },
    /// Show who may do what on a bucket: its owner (or, when it has none,
    /// the admin keys) and every key with a grant.
    ///
    /// Example: cairn -c prod bucket list photos
    List {
        bucket: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Args)]
pub struct BucketArgs {
    #[command(subcommand)]
    command: BucketCommand,
}

#[derive(Serialize)]
struct KeyView {
    access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    name: String,
    admin: bool,
    /// Buckets whose recorded owner the key is.
    owns: Vec<String>,
    buckets: Vec<PermissionView>,
}

#[derive(Serialize)]
struct PermissionView {
    bucket: String,
    read: bool,
    write: bool,
    owner: bool,
}

fn view(key: &AccessKey, with_secret: bool, owns: Vec<String>) -> KeyView {
    KeyView {
        access_key: key.key_id.clone(),
        secret_key: with_secret.then(|| key.secret.clone()),
        name: key.name.clone(),
        admin: key.admin,
        owns,
        buckets: key.permissions.iter().map(permission_view).collect(),
    }
}

fn permission_view(p: &BucketPermission) -> PermissionView {
    PermissionView {
        bucket: p.bucket.clone(),
        read: p.read,
        write: p.write,
        owner: p.owner,
    }
}

/// `rwo` letters of a grant.
fn rights(read: bool, write: bool, owner: bool) -> String {
    [(read, 'r'), (write, 'w'), (owner, 'o')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect()
}

/// The owner recorded for a bucket made outside S3: the key named (which
/// must exist), else the oldest admin key, else none (then only admin
/// keys reach it, and there are none yet).
pub async fn bucket_owner(client: &Client, named: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = named {
        return match client.get_access_key(id).await {
            Ok(key) => Ok(key.key_id),
            Err(ClusterError::NotFound(_)) => {
                anyhow::bail!("no access key {id}: `cairn key list` shows them")
            }
            Err(e) => Err(e).context("cannot read the access keys"),
        };
    }
    let keys = client
        .list_access_keys()
        .await
        .context("cannot read the access keys")?;
    Ok(keys
        .into_iter()
        .filter(|k| k.admin)
        .min_by(|a, b| (a.created_ns, &a.key_id).cmp(&(b.created_ns, &b.key_id)))
        .map(|k| k.key_id)
        .unwrap_or_default())
}

pub async fn key(cluster: Option<&str>, args: KeyArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    match args.command {
        KeyCommand::Create { name, admin, json } => {
            let key = client
                .create_access_key(&name, None, None, admin)
                .await
                .context("cannot create the access key")?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view(&key, true, Vec::new()))?
                );
            } else {
                println!("access key: {}\nsecret key: {}", key.key_id, key.secret);
                println!("(the secret is shown once; keep it now)");
            }
        }
        KeyCommand::List { json } => {
            let keys = client
                .list_access_keys()
                .await
                .context("cannot list access keys")?;
            let buckets = client.list_buckets().await.context("cannot list buckets")?;
            let owned = |id: &str| -> Vec<String> {
                buckets
                    .iter()
                    .filter(|b| b.owner == id)
                    .map(|b| b.name.clone())
                    .collect()
            };
            let views: Vec<KeyView> = keys
                .iter()
                .map(|k| view(k, false, owned(&k.key_id)))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                for v in &views {
                    let mut access: Vec<String> =
                        v.owns.iter().map(|b| format!("{b}:owner")).collect();
                    access.extend(
                        v.buckets
                            .iter()
                            .map(|p| format!("{}:{}", p.bucket, rights(p.read, p.write, p.owner))),
                    );
                    let admin = if v.admin { " (admin)" } else { "" };
                    println!("{} {}{admin} {}", v.access_key, v.name, access.join(","));
                }
            }
        }
        KeyCommand::Delete { key_id } => {
            client
                .delete_access_key(&key_id)
                .await
                .with_context(|| format!("cannot delete access key {key_id}"))?;
        }
    }
    Ok(())
}

/// The key's grant on `bucket` (all false when it has none).
async fn grant_of(client: &Client, key_id: &str, bucket: &str) -> anyhow::Result<BucketPermission> {
    let key = client
        .get_access_key(key_id)
        .await
        .with_context(|| format!("cannot read access key {key_id}"))?;
    Ok(key
        .permissions
        .into_iter()
        .find(|p| p.bucket == bucket)
        .unwrap_or(BucketPermission {
            bucket: bucket.to_string(),
            read: false,
            write: false,
            owner: false,
        }))
}

#[derive(Serialize)]
struct BucketAccessView {
    bucket: String,
    /// The key recorded at creation; empty: none (the admin keys stand in).
    owner: String,
    admins: Vec<String>,
    grants: Vec<GrantView>,
}

#[derive(Serialize)]
struct GrantView {
    access_key: String,
    name: String,
    read: bool,
    write: bool,
    owner: bool,
}

pub async fn bucket(cluster: Option<&str>, args: BucketArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    // Allow and revoke read the grant and write it back whole: two
    // operators changing one key's grant on one bucket at the same moment
    // may lose one change (the MDS stores one row per key and bucket).
    match args.command {
        BucketCommand::Allow {
            key_id,
            bucket,
            read,
            write,
            owner,
        } => {
            if !(read || write || owner) {
                anyhow::bail!("say what to allow: --read, --write and/or --owner");
            }
            let old = grant_of(&client, &key_id, &bucket).await?;
            let new = BucketPermission {
                bucket: bucket.clone(),
                read: old.read || read,
                write: old.write || write,
                owner: old.owner || owner,
            };
            client
                .set_bucket_permission(&key_id, &new)
                .await
                .with_context(|| format!("cannot change {key_id}'s access to {bucket}"))?;
        }
        BucketCommand::Revoke {
            key_id,
            bucket,
            read,
            write,
            owner,
        } => {
            let all = !(read || write || owner);
            let old = grant_of(&client, &key_id, &bucket).await?;
            let new = BucketPermission {
                bucket: bucket.clone(),
                read: old.read && !(all || read),
                write: old.write && !(all || write),
                owner: old.owner && !(all || owner),
            };
            client
                .set_bucket_permission(&key_id, &new)
                .await
                .with_context(|| format!("cannot change {key_id}'s access to {bucket}"))?;
            let recorded = client
                .get_bucket(&bucket)
                .await
                .with_context(|| format!("cannot read bucket {bucket}"))?;
            if recorded.owner == key_id {
                eprintln!(
                    "note: {key_id} owns {bucket} (recorded at its creation) and keeps every right on it"
                );
            }
        }
        BucketCommand::List { bucket, json } => {
            let found = client
                .get_bucket(&bucket)
                .await
                .with_context(|| format!("cannot read bucket {bucket}"))?;
            let keys = client
                .list_access_keys()
                .await
                .context("cannot list access keys")?;
            let view = BucketAccessView {
                admins: if found.owner.is_empty() {
                    keys.iter()
                        .filter(|k| k.admin)
                        .map(|k| k.key_id.clone())
                        .collect()
                } else {
                    Vec::new()
                },
                grants: keys
                    .iter()
                    .filter_map(|k| {
                        let p = k.permissions.iter().find(|p| p.bucket == bucket)?;
                        Some(GrantView {
                            access_key: k.key_id.clone(),
                            name: k.name.clone(),
                            read: p.read,
                            write: p.write,
                            owner: p.owner,
                        })
                    })
                    .collect(),
                owner: found.owner,
                bucket,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_bucket_access(&view);
            }
        }
    }
    Ok(())
}

fn print_bucket_access(view: &BucketAccessView) {
    if view.owner.is_empty() {
        println!(
            "{}: no owner recorded; admin keys stand in: {}",
            view.bucket,
            if view.admins.is_empty() {
                "(none)".to_string()
            } else {
                view.admins.join(", ")
            }
        );
    } else {
        println!("{}: owner {}", view.bucket, view.owner);
    }
    for g in &view.grants {
        println!(
            "{} {} {}",
            g.access_key,
            g.name,
            rights(g.read, g.write, g.owner)
        );
    }
}
