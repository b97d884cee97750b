//! What the `ops_*` tests share: a plain HTTP GET over a socket, a strict
//! parser of the Prometheus/OpenMetrics text format, a `cairn up` process
//! that is killed on drop.

#![allow(dead_code)]

pub mod two_mounts;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// GET http://ADDR/PATH: (status, body). HTTP/1.0 so the server closes.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((status, body.to_string()))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `name="v",name2="v2"` (the inside of the braces).
fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\": {rest}"))?;
        if !valid_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {s}")),
            }
        };
        if out.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.is_empty() {
            return Err(format!("junk after a label: {rest}"));
        }
    }
    Ok(out)
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        v => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// Strictly parses the OpenMetrics text format: every sample belongs to a
/// family declared by `# TYPE`, names and labels are well formed, values
/// are numbers, and the text ends with `# EOF`.
pub fn parse_metrics(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let lines = text.lines();
    let mut saw_eof = false;
    for line in lines {
        if saw_eof {
            return Err(format!("text after # EOF: {line}"));
        }
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let kind = parts.next().unwrap_or("");
            let name = parts
                .next()
                .ok_or_else(|| format!("bad meta line {line}"))?;
            if !valid_name(name) {
                return Err(format!("bad family name in {line}"));
            }
            match kind {
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "stateset",
                        "unknown",
                        "gaugehistogram",
                    ]
                    .contains(&t)
                    {
                        return Err(format!("unknown type in {line}"));
                    }
                    if types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(format!("family {name} declared twice"));
                    }
                }
                "HELP" | "UNIT" => {}
                _ => return Err(format!("unknown meta line {line}")),
            }
            continue;
        }
        if line.is_empty() {
            return Err("empty line".to_string());
        }
        let (series, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').ok_or_else(|| format!("no }} in {line}"))?;
                (
                    (&line[..open], parse_labels(&line[open + 1..close])?),
                    line[close + 1..].trim_start(),
                )
            }
            None => {
                let (n, r) = line
                    .split_once(' ')
                    .ok_or_else(|| format!("no value in {line}"))?;
                ((n, BTreeMap::new()), r)
            }
        };
        let (name, labels) = series;
        if !valid_name(name) {
            return Err(format!("bad sample name in {line}"));
        }
        let value = parse_value(rest.split(' ').next().unwrap_or(""))?;
        let family = ["_total", "_bucket", "_count", "_sum", "_created", "_info"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(format!("sample {name} of no declared family"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    if !saw_eof {
        return Err("no # EOF at the end".to_string());
    }
    Ok(samples)
}

/// Sum of the samples named `name` whose labels include every `want` pair.
pub fn sum(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Scrapes and parses http://ADDR/metrics, panicking with the text when it
/// does not parse.
pub fn scrape(addr: &str) -> Vec<Sample> {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "GET /metrics: {body}");
    parse_metrics(&body).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{body}"))
}

/// A daemon started by a test (`cairn gateway`, `cairn cs`), killed on drop.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `cairn up` process over a temp directory, killed on drop.
pub struct Up {
    pub root: tempfile::TempDir,
    pub child: Option<Child>,
    pub s3_addr: String,
    pub metrics_addr: String,
}

pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").to_string()
}

impl Up {
    /// Starts `cairn up` with its S3 and metrics listeners on ports the
    /// system chooses, read back from its listen file.
    pub fn start(extra: &[&str]) -> Up {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let log = std::fs::File::create(root.path().join("up.log")).expect("log file");
        let listen = root.path().join("up.listen");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.args(["up", "--data"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        cairn_testkit::listen_into(&mut cmd, &listen);
        let mut child = cmd.spawn().expect("spawn cairn up");
        let limit = Duration::from_secs(60);
        let s3_addr = cairn_testkit::bound(&listen, "s3", &mut child, limit).to_string();
        let metrics_addr = cairn_testkit::bound(&listen, "metrics", &mut child, limit).to_string();
        let up = Up {
            root,
            child: Some(child),
            s3_addr,
            metrics_addr,
        };
        let addr = up.metrics_addr.clone();
        eventually(
            Duration::from_secs(60),
            "cairn up's metrics listener",
            || http_get(&addr, "/metrics").ok().filter(|(s, _)| *s == 200),
        );
        up
    }

    pub fn etc(&self) -> PathBuf {
        self.root.path().join("data").join("etc")
    }

    /// `cairn -c local ARGS` against this cluster.
    pub fn cairn(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .env("CAIRN_CONFIG_DIR", self.etc())
            .env("CAIRN_CLUSTER", "local")
            .env("RUST_LOG", "warn")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run cairn")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("up.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub use cairn_testkit::eventually;

/// Lazily unmounts a FUSE mount point on drop: `cairn up` is killed with
/// SIGKILL and cannot unmount it itself.
pub struct Unmount(pub std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-uz").arg(&self.0).status();
    }
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    #[test]
    fn the_parser_is_strict() {
        let good = "# HELP a_total x\n# TYPE a counter\na_total{p=\"q\\\"r\"} 3\n# EOF\n";
        let s = parse_metrics(good).expect("parses");
        assert_eq!(s[0].labels["p"], "q\"r");
        assert_eq!(s[0].value, 3.0);
        let refusal = |text: &str| parse_metrics(text).err().unwrap_or_default();
        assert_eq!(
            refusal("# TYPE a counter\na_total 3\n"),
            "no # EOF at the end"
        );
        assert_eq!(refusal("b 3\n# EOF\n"), "sample b of no declared family");
        assert_eq!(
            refusal("# TYPE a gauge\na{p=q} 3\n# EOF\n"),
            "label without =\": p=q"
        );
        assert_eq!(refusal("# TYPE a gauge\na x\n# EOF\n"), "bad value \"x\"");
    }
}
