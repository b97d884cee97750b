//! S3 access keys and bucket permissions: `cairn key ...`, `cairn bucket allow`.

use anyhow::Context;
use cairn_client::BucketPermission;
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
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List access keys (without their secrets).
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
    /// Give a key read and/or write access to a bucket.
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
    buckets: Vec<PermissionView>,
}

#[derive(Serialize)]
struct PermissionView {
    bucket: String,
    read: bool,
    write: bool,
    owner: bool,
}

fn view(key: &cairn_client::AccessKey, with_secret: bool) -> KeyView {
    KeyView {
        access_key: key.key_id.clone(),
        secret_key: with_secret.then(|| key.secret.clone()),
        name: key.name.clone(),
        buckets: key
            .permissions
            .iter()
            .map(|p| PermissionView {
                bucket: p.bucket.clone(),
                read: p.read,
                write: p.write,
                owner: p.owner,
            })
            .collect(),
    }
}

pub async fn key(cluster: Option<&str>, args: KeyArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    match args.command {
        KeyCommand::Create { name, json } => {
            let key = client
                .create_access_key(&name, None, None)
                .await
                .context("cannot create the access key")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view(&key, true))?);
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
            if json {
                let views: Vec<KeyView> = keys.iter().map(|k| view(k, false)).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                for k in &keys {
                    let buckets: Vec<String> = k
                        .permissions
                        .iter()
                        .map(|p| {
                            let mut rights = String::new();
                            if p.read {
                                rights.push('r');
                            }
                            if p.write {
                                rights.push('w');
                            }
                            if p.owner {
                                rights.push('o');
                            }
                            format!("{}:{rights}", p.bucket)
                        })
                        .collect();
                    println!("{} {} {}", k.key_id, k.name, buckets.join(","));
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

pub async fn bucket(cluster: Option<&str>, args: BucketArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
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
            client
                .set_bucket_permission(
                    &key_id,
                    &BucketPermission {
                        bucket: bucket.clone(),
                        read,
                        write,
                        owner,
                    },
                )
                .await
                .with_context(|| format!("cannot change {key_id}'s access to {bucket}"))?;
        }
    }
    Ok(())
}
