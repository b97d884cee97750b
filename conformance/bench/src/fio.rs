//! fio (the Debian package `fio`) on one file: the arguments every run
//! shares, and the figures of its JSON report.

use std::{path::Path, time::Duration};

use anyhow::{ensure, Context};
use serde_json::Value;

use crate::sys;

/// Operations per second, and the 99th percentile of their completion
/// latency in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    pub iops: f64,
    pub p99_ms: f64,
}

/// Runs fio on the file `file` of `size` bytes, `--ioengine=psync` on the
/// page cache (no O_DIRECT), one group report, with `args`, within
/// `bound`; its report and its log go into `work`. Returns the job of the
/// report (the sum of all the jobs).
pub async fn run(
    file: &Path,
    size: u64,
    args: &[&str],
    bound: Duration,
    work: &Path,
) -> anyhow::Result<Value> {
    let report = work.join("fio.json");
    std::fs::remove_file(&report).ok();
    let mut cmd = tokio::process::Command::new("fio");
    cmd.arg("--name=image")
        .arg(format!("--filename={}", file.display()))
        .arg(format!("--size={size}"))
        .args([
            "--ioengine=psync",
            "--direct=0",
            "--invalidate=1",
            "--fallocate=none",
            "--group_reporting",
            "--output-format=json",
        ])
        .arg(format!("--output={}", report.display()))
        .args(args);
    sys::run_bounded(cmd, bound, "fio", &work.join("fio.log")).await?;
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("fio wrote no report at {}", report.display()))?;
    let json: Value = serde_json::from_str(&text)
        .with_context(|| format!("fio's report {} is not JSON", report.display()))?;
    let job = json["jobs"][0].clone();
    ensure!(job.is_object(), "fio's report has no job: {text}");
    ensure!(
        job["error"].as_i64() == Some(0),
        "fio's job ended with error {}",
        job["error"]
    );
    Ok(job)
}

/// Seconds of one side (`read`, `write`) of a job: its runtime, which
/// counts a final fsync (`--end_fsync`).
pub fn runtime_s(side: &Value) -> f64 {
    side["runtime"].as_f64().unwrap_or(0.0) / 1000.0
}

fn p99_ms(lat: &Value) -> Option<f64> {
    lat["percentile"]["99.000000"].as_f64().map(|ns| ns / 1e6)
}

/// IOPS and p99 completion latency (clat) of one side of a job.
pub fn rate(job: &Value, side: &str) -> anyhow::Result<Rate> {
    let s = &job[side];
    ensure!(
        s["total_ios"].as_u64().unwrap_or(0) > 0,
        "fio made no {side} in the phase"
    );
    Ok(Rate {
        iops: s["iops"].as_f64().context("fio's report has no IOPS")?,
        p99_ms: p99_ms(&s["clat_ns"]).context("fio's report has no p99 clat")?,
    })
}

/// The fdatasyncs of a job (`--fdatasync=1`): per second of the writes'
/// runtime, and their p99 latency.
pub fn syncs(job: &Value) -> anyhow::Result<Rate> {
    let lat = &job["sync"]["lat_ns"];
    let n = lat["N"].as_f64().unwrap_or(0.0);
    ensure!(n > 0.0, "fio made no fdatasync in the phase");
    Ok(Rate {
        iops: n / runtime_s(&job["write"]).max(1e-9),
        p99_ms: p99_ms(lat).context("fio's report has no p99 of its syncs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_gives_iops_p99_and_fdatasyncs() {
        let job: Value = serde_json::from_str(
            r#"{"write": {"total_ios": 600, "iops": 300.5, "runtime": 2000,
                "clat_ns": {"percentile": {"99.000000": 53504}}},
               "sync": {"lat_ns": {"N": 600, "percentile": {"99.000000": 5406720}}}}"#,
        )
        .unwrap();
        let w = rate(&job, "write").unwrap();
        assert_eq!(w.iops, 300.5);
        assert!((w.p99_ms - 0.053_504).abs() < 1e-9);
        let s = syncs(&job).unwrap();
        assert_eq!(s.iops, 300.0);
        assert!((s.p99_ms - 5.406_72).abs() < 1e-9);
        assert!(rate(&job, "read").is_err());
    }
}
