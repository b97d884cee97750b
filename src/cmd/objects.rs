//! Object commands through the client library, as `rados put/get` are for
//! Ceph: put, get, ls, rm, mb, rb. They stream; no file is held in memory.

use std::path::PathBuf;

use anyhow::{bail, Context};
use cairn_client::{ObjectMeta, PutConditions};
use clap::Args;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::client_for;

#[derive(Args)]
pub struct PutArgs {
    /// Local file to upload, or - for standard input.
    local: String,
    /// Where to put it: BUCKET/KEY.
    target: String,
    /// Content-Type to store.
    #[arg(long, default_value = "application/octet-stream")]
    content_type: String,
}

#[derive(Args)]
pub struct GetArgs {
    /// What to download: BUCKET/KEY.
    source: String,
    /// Local file to write, or - for standard output.
    local: String,
    /// A version of the key other than its current one (`cairn versions`
    /// lists them).
    #[arg(long)]
    version_id: Option<String>,
}

#[derive(Args)]
pub struct LsArgs {
    /// BUCKET or BUCKET/PREFIX; nothing lists the buckets.
    path: Option<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// BUCKET/KEY to remove.
    target: String,
}

#[derive(Args)]
pub struct BucketArgs {
    /// The bucket's name.
    bucket: String,
}

#[derive(Args)]
pub struct MbArgs {
    /// The bucket's name.
    bucket: String,
    /// The S3 access key that owns the bucket (may do everything on it;
    /// other keys need `cairn bucket allow`). Default: the oldest admin
    /// key (the one `cairn up` made).
    #[arg(long, value_name = "KEY")]
    owner: Option<String>,
}

/// Splits `BUCKET/KEY`; the key may be empty only when `allow_empty_key`.
pub fn split_path(path: &str, allow_empty_key: bool) -> anyhow::Result<(&str, &str)> {
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        bail!("`{path}` names no bucket: write BUCKET/KEY");
    }
    if key.is_empty() && !allow_empty_key {
        bail!("`{path}` names no key: write BUCKET/KEY");
    }
    Ok((bucket, key))
}

/// Size of reads from a local file or standard input.
const READ_BUFFER: usize = 1 << 20;

pub async fn put(cluster: Option<&str>, args: PutArgs) -> anyhow::Result<()> {
    let (bucket, key) = split_path(&args.target, false)?;
    let client = client_for(cluster).await?;
    let meta = ObjectMeta {
        content_type: args.content_type,
        ..Default::default()
    };
    let node = if args.local == "-" {
        let body = ReaderStream::with_capacity(tokio::io::stdin(), READ_BUFFER);
        client
            .put_object(bucket, key.as_bytes(), body, meta, PutConditions::default())
            .await
    } else {
        let file = tokio::fs::File::open(&args.local)
            .await
            .with_context(|| format!("cannot open {}", args.local))?;
        let body = ReaderStream::with_capacity(file, READ_BUFFER);
        client
            .put_object(bucket, key.as_bytes(), body, meta, PutConditions::default())
            .await
    }
    .with_context(|| format!("cannot put {}", args.target))?;
    eprintln!("{}: {} bytes, etag {}", args.target, node.size, node.etag);
    Ok(())
}

pub async fn get(cluster: Option<&str>, args: GetArgs) -> anyhow::Result<()> {
    let (bucket, key) = split_path(&args.source, false)?;
    let client = client_for(cluster).await?;
    let version = client
        .get_version(bucket, key.as_bytes(), args.version_id.as_deref())
        .await
        .with_context(|| format!("cannot get {}", args.source))?;
    if version.delete_marker {
        bail!(
            "{} is deleted: its current version {} is a delete marker (`cairn versions {bucket}/{key}` lists the others)",
            args.source,
            version.version_id
        );
    }
    let node = version.node;
    let mut stream = std::pin::pin!(client.read(&node, 0, node.size));
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if args.local == "-" {
        Box::new(tokio::io::stdout())
    } else {
        let path = PathBuf::from(&args.local);
        Box::new(
            tokio::fs::File::create(&path)
                .await
                .with_context(|| format!("cannot create {}", path.display()))?,
        )
    };
    let mut copied = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.with_context(|| format!("reading {}", args.source))?;
        copied += piece.len() as u64;
        out.write_all(&piece)
            .await
            .context("writing the local copy")?;
    }
    out.flush().await.context("writing the local copy")?;
    if copied != node.size {
        bail!(
            "{} is {} bytes but {copied} were read",
            args.source,
            node.size
        );
    }
    Ok(())
}

pub async fn ls(cluster: Option<&str>, args: LsArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let Some(path) = args.path else {
        for b in client.list_buckets().await? {
            println!("{}", b.name);
        }
        return Ok(());
    };
    let (bucket, prefix) = split_path(&path, true)?;
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (entries, truncated) = client
            .list_objects(bucket, prefix.as_bytes(), &after, 1000)
            .await
            .with_context(|| format!("cannot list {path}"))?;
        for (key, node) in &entries {
            println!(
                "{:>14} {} {}",
                node.size,
                node.etag,
                String::from_utf8_lossy(key)
            );
        }
        match entries.last() {
            Some((key, _)) if truncated => after = key.clone(),
            _ => break,
        }
    }
    Ok(())
}

pub async fn rm(cluster: Option<&str>, args: RmArgs) -> anyhow::Result<()> {
    let (bucket, key) = split_path(&args.target, false)?;
    let client = client_for(cluster).await?;
    client
        .delete_object(bucket, key.as_bytes())
        .await
        .with_context(|| format!("cannot remove {}", args.target))?;
    Ok(())
}

pub async fn mb(cluster: Option<&str>, args: MbArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let owner = super::keys::bucket_owner(&client, args.owner.as_deref()).await?;
    client
        .create_bucket(&args.bucket, &owner)
        .await
        .with_context(|| format!("cannot make bucket {}", args.bucket))?;
    if owner.is_empty() {
        eprintln!(
            "note: no admin key exists, so {} has no owner: S3 keys reach it once an admin key is made (`cairn key create --admin`) or with `cairn bucket allow`",
            args.bucket
        );
    }
    Ok(())
}

pub async fn rb(cluster: Option<&str>, args: BucketArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    client
        .delete_bucket(&args.bucket)
        .await
        .with_context(|| format!("cannot remove bucket {}", args.bucket))?;
    Ok(())
}
