//! `cairn lifecycle BUCKET`: a bucket's S3 lifecycle rules, as the S3 door
//! stored them, and what the MDS leader's lifecycle runner last did there.

use anyhow::Context;
use cairn_common::lifecycle::{self as model, Expiration, Filter, Rule};
use clap::Args;
use serde::Serialize;

use super::client_for;

#[derive(Args)]
pub struct LifecycleArgs {
    /// The bucket.
    bucket: String,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    bucket: String,
    /// The rules, in the order sent; empty when the bucket has none.
    rules: Vec<String>,
    /// The runner's last pass over the bucket, if it made one since the
    /// current leader began to lead.
    last_pass: Option<cairn_client::LifecycleBucket>,
}

fn describe_filter(filter: &Filter) -> String {
    match filter {
        Filter::All => "every object".into(),
        Filter::RulePrefix(p) | Filter::Prefix(p) => format!("prefix {p:?}"),
        Filter::Tag { key, value } => format!("tag {key}={value}"),
        Filter::ObjectSizeGreaterThan(n) => format!("size > {n}"),
        Filter::ObjectSizeLessThan(n) => format!("size < {n}"),
        Filter::And(and) => {
            let mut parts = Vec::new();
            if let Some(p) = &and.prefix {
                parts.push(format!("prefix {p:?}"));
            }
            parts.extend(and.tags.iter().map(|(k, v)| format!("tag {k}={v}")));
            if let Some(n) = and.object_size_greater_than {
                parts.push(format!("size > {n}"));
            }
            if let Some(n) = and.object_size_less_than {
                parts.push(format!("size < {n}"));
            }
            parts.join(" and ")
        }
    }
}

/// One line per rule: `ID [Enabled] on FILTER: ACTIONS`.
fn describe(rule: &Rule) -> String {
    let mut actions = Vec::new();
    match rule.expiration {
        Some(Expiration::Days(d)) => actions.push(format!("expire after {d} days")),
        Some(Expiration::Date(ns)) => {
            actions.push(format!("expire from {} (unix s)", ns / 1_000_000_000))
        }
        Some(Expiration::ExpiredObjectDeleteMarker(true)) => {
            actions.push("remove expired delete markers".into())
        }
        Some(Expiration::ExpiredObjectDeleteMarker(false)) | None => {}
    }
    if let Some(nve) = rule.noncurrent_version_expiration {
        let keep = nve
            .newer_noncurrent_versions
            .map(|n| format!(", keeping the {n} newest"))
            .unwrap_or_default();
        actions.push(format!(
            "remove noncurrent versions after {} days{keep}",
            nve.noncurrent_days
        ));
    }
    if let Some(abort) = rule.abort_incomplete_multipart_upload {
        actions.push(format!(
            "abort incomplete uploads after {} days",
            abort.days_after_initiation
        ));
    }
    format!(
        "{} [{}] on {}: {}",
        rule.id,
        rule.status.as_str(),
        describe_filter(&rule.filter),
        actions.join("; ")
    )
}

pub async fn lifecycle(cluster: Option<&str>, args: LifecycleArgs) -> anyhow::Result<()> {
    let client = client_for(cluster).await?;
    let stored = client
        .bucket_setting(&args.bucket, model::SETTING)
        .await
        .with_context(|| format!("cannot read the lifecycle of bucket {}", args.bucket))?;
    let rules = match stored {
        Some(bytes) => model::decode(&bytes)?.rules,
        None => Vec::new(),
    };
    let stat = client
        .stat()
        .await
        .context("cannot read the cluster's state")?;
    let report = Report {
        bucket: args.bucket.clone(),
        rules: rules.iter().map(describe).collect(),
        last_pass: stat
            .lifecycle_buckets
            .into_iter()
            .find(|b| b.bucket == args.bucket),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if report.rules.is_empty() {
        println!("bucket {}: no lifecycle configuration", report.bucket);
    } else {
        println!("bucket {}: {} rules", report.bucket, report.rules.len());
        for r in &report.rules {
            println!("  {r}");
        }
    }
    match &report.last_pass {
        None => println!("no lifecycle pass since the MDS leader started"),
        Some(p) => {
            let state = if p.finished_unix_ms == 0 {
                "running".to_string()
            } else {
                let secs = cairn_common::time::now_secs().saturating_sub(p.finished_unix_ms / 1000);
                format!("finished {secs} s ago")
            };
            let d = &p.done;
            println!(
                "last pass ({state}, pass {}): {} current versions deleted, {} expired behind delete markers, {} noncurrent versions removed, {} delete markers removed, {} uploads aborted, {} skipped",
                p.passes,
                d.current_deleted,
                d.markers_added,
                d.noncurrent_removed,
                d.markers_removed,
                d.uploads_aborted,
                p.skipped
            );
            if !p.last_error.is_empty() {
                println!("last error: {}", p.last_error);
            }
        }
    }
    Ok(())
}
