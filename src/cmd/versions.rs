//! Versions and object lock from the command line: `cairn versions` lists
//! the versions of keys (as ListObjectVersions), `cairn lock` sets or shows
//! a version's retention and legal hold.

use anyhow::{bail, Context};
use cairn_client::{LockMode, ProtectionChange, Retention};
use clap::Args;

use super::client_for;
use super::objects::split_path;

#[derive(Args)]
pub struct VersionsArgs {
    /// BUCKET or BUCKET/PREFIX.
    path: String,
    /// Print one JSON object per version.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LockArgs {
    /// BUCKET/KEY whose version to lock.
    target: String,
    /// The version (default: the current one).
    #[arg(long)]
    version_id: Option<String>,
    /// GOVERNANCE or COMPLIANCE (with --until).
    #[arg(long)]
    mode: Option<String>,
    /// Keep the version until this instant, RFC 3339 (2030-01-01T00:00:00Z)
    /// or a number of days from now (30d).
    #[arg(long)]
    until: Option<String>,
    /// Put a legal hold on (on) or take it off (off).
    #[arg(long)]
    legal_hold: Option<String>,
    /// Shorten or remove GOVERNANCE retention.
    #[arg(long)]
    bypass_governance: bool,
}

/// Versions per request to the MDS.
const PAGE: u32 = 1000;

pub async fn versions(cluster: Option<&str>, args: VersionsArgs) -> anyhow::Result<()> {
    let (bucket, prefix) = split_path(&args.path, true)?;
    let client = client_for(cluster).await?;
    let mut key_marker: Vec<u8> = Vec::new();
    let mut version_marker = String::new();
    loop {
        let (page, more) = client
            .list_versions(
                bucket,
                prefix.as_bytes(),
                &key_marker,
                &version_marker,
                PAGE,
            )
            .await
            .with_context(|| format!("cannot list the versions of {}", args.path))?;
        for v in &page {
            let key = String::from_utf8_lossy(&v.key);
            let id = if v.version_id.is_empty() {
                "null"
            } else {
                &v.version_id
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "key": key,
                        "version_id": id,
                        "latest": v.latest,
                        "delete_marker": v.delete_marker,
                        "size": v.node.size,
                        "etag": v.node.etag,
                        "mtime_ns": v.node.mtime_ns,
                    })
                );
            } else {
                let what = if v.delete_marker {
                    "(delete marker)".to_string()
                } else {
                    format!("{} bytes", v.node.size)
                };
                let latest = if v.latest { " latest" } else { "" };
                println!("{key}\t{id}\t{what}{latest}");
            }
        }
        match page.last() {
            Some(last) if more => {
                key_marker = last.key.clone();
                version_marker = last.version_id.clone();
            }
            _ => return Ok(()),
        }
    }
}

/// `2030-01-01T00:00:00Z` or `30d` (days from now), as ns since the epoch.
fn parse_until(text: &str) -> anyhow::Result<i64> {
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days
            .parse()
            .with_context(|| format!("`{text}` is not a number of days such as 30d"))?;
        return Ok(cairn_common::time::now_ns() + days * 86_400 * 1_000_000_000);
    }
    // The S3 form, read as the gateway reads retain-until dates.
    cairn_gateway::xml::lock::parse_retain_until(text)
        .with_context(|| format!("`{text}` is not a date such as 2030-01-01T00:00:00Z"))
}

pub async fn lock(cluster: Option<&str>, args: LockArgs) -> anyhow::Result<()> {
    let (bucket, key) = split_path(&args.target, false)?;
    let client = client_for(cluster).await?;
    let mut change = ProtectionChange::default();
    match (&args.mode, &args.until) {
        (Some(mode), Some(until)) => {
            let mode = match mode.to_ascii_uppercase().as_str() {
                "GOVERNANCE" => LockMode::Governance,
                "COMPLIANCE" => LockMode::Compliance,
                other => bail!("--mode is GOVERNANCE or COMPLIANCE, not {other}"),
            };
            change.retention = Some(Some(Retention {
                mode,
                until_ns: parse_until(until)?,
            }));
        }
        (None, None) => {}
        _ => bail!("--mode and --until go together"),
    }
    if let Some(hold) = &args.legal_hold {
        change.legal_hold = Some(match hold.to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            other => bail!("--legal-hold is on or off, not {other}"),
        });
    }
    if change != ProtectionChange::default() {
        client
            .set_protection(
                bucket,
                key.as_bytes(),
                args.version_id.as_deref(),
                &change,
                args.bypass_governance,
            )
            .await
            .with_context(|| format!("cannot lock {}", args.target))?;
    }
    let version = client
        .get_version(bucket, key.as_bytes(), args.version_id.as_deref())
        .await
        .with_context(|| format!("cannot read {}", args.target))?;
    let p = &version.node.protection;
    let retention = match p.retention {
        Some(r) => format!("{} until {} ns", r.mode.as_str(), r.until_ns),
        None => "no retention".to_string(),
    };
    let hold = if p.legal_hold {
        "legal hold on"
    } else {
        "no legal hold"
    };
    println!(
        "{} version {}: {retention}, {hold}",
        args.target,
        if version.version_id.is_empty() {
            "null"
        } else {
            &version.version_id
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_s3_writes_them() {
        assert_eq!(parse_until("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_until("2030-01-01T00:00:00Z").unwrap(),
            1_893_456_000 * 1_000_000_000
        );
        let refusal = |text: &str| parse_until(text).unwrap_err().to_string();
        assert_eq!(
            refusal("2030-13-01T00:00:00Z"),
            "`2030-13-01T00:00:00Z` is not a date such as 2030-01-01T00:00:00Z"
        );
        assert_eq!(
            refusal("tomorrow"),
            "`tomorrow` is not a date such as 2030-01-01T00:00:00Z"
        );
        assert!(parse_until("2d").is_ok());
        assert_eq!(refusal("xd"), "`xd` is not a number of days such as 30d");
    }
}
