//! The S3 door's limits over a real `cairn up` on 127.0.0.1: slowloris,
//! connections per address, failed authentications slowing their address
//! down, a head too large, a body too slow. Attackers connect from other
//! loopback addresses (127.0.0.2 and up: the whole 127/8 is local on
//! Linux) so that each limit is exercised apart from the others, and the
//! normal client is 127.0.0.1.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::s3::{bucket_name, raw_request, sign_v4, S3Cluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The limits of the cluster under test: small, so that each test sees
/// its limit within seconds.
const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MIN_BODY_RATE: u64 = 1000;
const BODY_RATE_WINDOW: Duration = Duration::from_secs(2);
const AUTH_FAILURE_BURST: u32 = 5;
const AUTH_FAILURE_MAX_DELAY: Duration = Duration::from_secs(3);

fn cluster() -> Arc<S3Cluster> {
    static SHARED: std::sync::Mutex<std::sync::Weak<S3Cluster>> =
        std::sync::Mutex::new(std::sync::Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = slot.upgrade() {
        return c;
    }
    let connections = MAX_CONNECTIONS_PER_ADDRESS.to_string();
    let header_timeout = HEADER_READ_TIMEOUT.as_secs().to_string();
    let header_bytes = MAX_HEADER_BYTES.to_string();
    let rate = MIN_BODY_RATE.to_string();
    let window = BODY_RATE_WINDOW.as_secs().to_string();
    let burst = AUTH_FAILURE_BURST.to_string();
    let max_delay = AUTH_FAILURE_MAX_DELAY.as_secs().to_string();
    let c = Arc::new(S3Cluster::start_with(&[
        "--max-connections-per-address",
        &connections,
        "--header-read-timeout",
        &header_timeout,
        "--max-header-bytes",
        &header_bytes,
        "--min-body-rate",
        &rate,
        "--body-rate-window",
        &window,
        "--auth-failure-burst",
        &burst,
        "--auth-failures-per-second",
        "1",
        "--auth-failure-max-delay",
        &max_delay,
    ]));
    *slot = Arc::downgrade(&c);
    c
}

/// Raises the soft limit of open files to the hard one: the slowloris test
/// holds 2,000 sockets (the gateway raises its own the same way).
fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(read, 0, "getrlimit");
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct it is given; the soft limit may
    // always go up to the hard one.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    assert_eq!(set, 0, "setrlimit");
    limit.rlim_max
}

/// A loopback address other than 127.0.0.1.
fn loopback(last: u8, third: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, third, last)
}

/// A TCP connection to `addr` from the local address `from`.
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.into(), 0))?;
    socket.connect(addr).await
}

/// Reads from `stream` until the end of an answer whose body ends with
/// `</Error>` (or has none), the end of the stream, or `limit`. Returns
/// what was read.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    // Bounded in time by the deadline, in count by the answer's size.
    for _ in 0..1000 {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return raw,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&raw);
        if text.contains("</Error>")
            || (text.contains("\r\n\r\n")
                && text.to_ascii_lowercase().contains("content-length: 0"))
        {
            return raw;
        }
    }
    raw
}

fn status_of(raw: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(raw);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn code_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default()
}

/// An anonymous ListBuckets from `from` on a new connection: the status
/// and the time it took, or None when the connection was refused.
async fn anonymous_from(from: Ipv4Addr, addr: SocketAddr) -> Option<(u16, Duration)> {
    let started = Instant::now();
    let mut stream = connect_from(from, addr).await.ok()?;
    let head = format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let raw = read_answer(&mut stream, Duration::from_secs(20)).await;
    status_of(&raw).map(|s| (s, started.elapsed()))
}

/// A PUT and a GET of 1 MiB through the SDK from 127.0.0.1; their time.
async fn put_and_get(client: &aws_sdk_s3::Client, bucket: &str, round: usize) -> Duration {
    let data = vec![round as u8; 1 << 20];
    let key = format!("object-{round}");
    let started = Instant::now();
    client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(data.clone().into())
        .send()
        .await
        .expect("PUT");
    let got = client
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .expect("GET");
    let body = common::s3::body_bytes(got).await;
    let took = started.elapsed();
    assert_eq!(body, data, "the object read back");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_stop_a_normal_client() {
    const ATTACKERS: usize = 2_000;
    const PER_ADDRESS: usize = 50;
    const ATTACK: Duration = Duration::from_secs(20);
    let hard = raise_open_files_limit();
    assert!(
        hard > ATTACKERS as u64 + 500,
        "the hard limit of open files ({hard}) is too low for this test"
    );
    let cluster = cluster();
    let client = cluster.client();
    let bucket = bucket_name("slowloris");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");

    // The same PUT and GET without the attack: the best of three.
    let mut usual = Duration::MAX;
    for round in 0..3 {
        usual = usual.min(put_and_get(&client, &bucket, round).await);
    }

    // 2,000 connections from 40 addresses (under the per-address limit),
    // each sending one byte of a request head per second, reconnecting
    // when dropped, until the attack ends.
    let addr = cluster.addr;
    let connected = Arc::new(AtomicUsize::new(0));
    let dropped_in_time = Arc::new(AtomicUsize::new(0));
    let attack_ends = tokio::time::Instant::now() + ATTACK;
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..ATTACKERS {
        let from = loopback(2 + (i / PER_ADDRESS) as u8, 1);
        let connected = connected.clone();
        let dropped_in_time = dropped_in_time.clone();
        attackers.spawn(async move {
            let head = format!("GET / HTTP/1.1\r\nhost: {addr}\r\nx-slow: ");
            let mut first = true;
            // Bounded: at most one connection per header timeout.
            for _ in 0..20 {
                if tokio::time::Instant::now() >= attack_ends {
                    return;
                }
                let Ok(stream) = connect_from(from, addr).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                if first {
                    connected.fetch_add(1, Ordering::Relaxed);
                }
                let opened = Instant::now();
                let (mut reader, mut writer) = stream.into_split();
                let trickle = async {
                    // At most a minute of bytes: the attack ends first.
                    for byte in head.bytes().chain(std::iter::repeat(b'a')).take(60) {
                        if writer.write_all(&[byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                };
                let mut sink = [0u8; 64];
                tokio::select! {
                    _ = trickle => {}
                    _ = reader.read(&mut sink) => {}
                    _ = tokio::time::sleep_until(attack_ends) => return,
                }
                // The gateway closed it: within its header timeout?
                if first && opened.elapsed() < HEADER_READ_TIMEOUT + Duration::from_secs(3) {
                    dropped_in_time.fetch_add(1, Ordering::Relaxed);
                }
                first = false;
            }
        });
    }
    let all_in = cairn_testkit::until(
        Duration::from_secs(15),
        Duration::from_millis(100),
        "the attackers to connect",
        || {
            let n = connected.load(Ordering::Relaxed);
            async move {
                (n >= ATTACKERS)
                    .then_some(n)
                    .ok_or(format!("{n} connected"))
            }
        },
    )
    .await;
    assert!(all_in.is_ok(), "attackers connected: {all_in:?}");

    // The normal client, while every attacker holds a connection.
    let mut attacked = Duration::ZERO;
    for round in 3..6 {
        attacked = attacked.max(put_and_get(&client, &bucket, round).await);
    }
    let bound = usual * 3 + Duration::from_secs(2);
    eprintln!(
        "slowloris: PUT+GET of 1 MiB took {usual:?} without the attack, at most {attacked:?} under {ATTACKERS} slow connections"
    );
    assert!(
        attacked <= bound,
        "under the attack PUT+GET took {attacked:?}, usually {usual:?} (bound {bound:?})"
    );

    // The gateway dropped the slow heads at its header timeout.
    let dropped = cairn_testkit::until(
        HEADER_READ_TIMEOUT + Duration::from_secs(10),
        Duration::from_millis(100),
        "the slow connections to be dropped",
        || {
            let n = dropped_in_time.load(Ordering::Relaxed);
            async move {
                (n >= ATTACKERS * 9 / 10)
                    .then_some(n)
                    .ok_or(format!("{n} dropped in time"))
            }
        },
    )
    .await;
    assert!(
        dropped.is_ok(),
        "slow heads dropped within the header timeout: {dropped:?}"
    );
    attackers.abort_all();
    while attackers.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_connection_limit_is_refused_and_others_are_served() {
    let cluster = cluster();
    let addr = cluster.addr;
    let crowded = loopback(50, 2);
    // The crowded address holds its limit of keep-alive connections, each
    // answered once (so the gateway has counted it).
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
        let mut stream = connect_from(crowded, addr).await.expect("connect");
        let head = format!("GET / HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("send");
        let raw = read_answer(&mut stream, Duration::from_secs(10)).await;
        assert_eq!(
            status_of(&raw),
            Some(403),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        held.push(stream);
    }
    // One more from it is closed unanswered.
    let refused = anonymous_from(crowded, addr).await;
    assert_eq!(refused, None, "a connection over the limit is refused");
    // Another address is served.
    let other = anonymous_from(loopback(51, 2), addr).await;
    assert!(
        matches!(other, Some((403, _))),
        "another address is answered: {other:?}"
    );
    // Once the crowded address closes one, it is served again.
    drop(held.pop());
    let again = cairn_testkit::until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "the crowded address to be served again",
        || async move {
            anonymous_from(crowded, addr)
                .await
                .ok_or_else(|| "refused".to_string())
        },
    )
    .await;
    assert!(matches!(again, Ok((403, _))), "{again:?}");
}

/// A request signed by the first key whose signature is then altered:
/// SignatureDoesNotMatch.
fn badly_signed_list(cluster: &S3Cluster) -> String {
    let (mut headers, signature) = sign_v4(
        cluster,
        "GET",
        "/",
        &[],
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut wrong = signature.clone();
    let last = if wrong.ends_with('0') { '1' } else { '0' };
    wrong.pop();
    wrong.push(last);
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case("authorization") {
            *value = value.replace(&signature, &wrong);
        }
    }
    let mut head = "GET / HTTP/1.1\r\n".to_string();
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends `head` from `from` on a new connection: the S3 code and the time.
async fn send_from(from: Ipv4Addr, addr: SocketAddr, head: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = connect_from(from, addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send");
    let raw = read_answer(&mut stream, Duration::from_secs(20)).await;
    (code_of(&raw), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_signatures_slows_that_address_and_no_other() {
    let cluster = cluster();
    let addr = cluster.addr;
    let guesser = loopback(60, 3);
    let bystander = loopback(61, 3);
    let client = cluster.client();
    let started = Instant::now();
    client.list_buckets().send().await.expect("list buckets");
    let usual = started.elapsed();

    let mut latencies = Vec::new();
    for _ in 0..AUTH_FAILURE_BURST + 4 {
        let (code, took) = send_from(guesser, addr, &badly_signed_list(&cluster)).await;
        assert_eq!(code, "SignatureDoesNotMatch");
        latencies.push(took);
    }
    eprintln!("bad signatures from one address: {latencies:?}");
    let burst = &latencies[..AUTH_FAILURE_BURST as usize];
    assert!(
        burst.iter().all(|t| *t < Duration::from_millis(500)),
        "the burst is answered at once: {burst:?}"
    );
    let slowed = &latencies[AUTH_FAILURE_BURST as usize + 1..];
    assert!(
        slowed.iter().all(|t| *t >= Duration::from_millis(800)),
        "past the burst the address waits about a second per failure: {slowed:?}"
    );
    assert!(
        latencies
            .iter()
            .all(|t| *t < AUTH_FAILURE_MAX_DELAY + Duration::from_secs(1)),
        "no wait beyond the longest delay: {latencies:?}"
    );

    // Meanwhile another address and the normal client are not slowed.
    let (code, other) = send_from(bystander, addr, &badly_signed_list(&cluster)).await;
    assert_eq!(code, "SignatureDoesNotMatch");
    assert!(
        other < Duration::from_millis(500),
        "another address: {other:?}"
    );
    let started = Instant::now();
    client.list_buckets().send().await.expect("list buckets");
    let normal = started.elapsed();
    assert!(
        normal < usual + Duration::from_millis(500),
        "the normal client: {normal:?}, usually {usual:?}"
    );
    // The guesser is still slowed, whatever it sends.
    let (_, still) = send_from(guesser, addr, &badly_signed_list(&cluster)).await;
    assert!(still >= Duration::from_millis(800), "{still:?}");

    // Many connections at once guess no faster: the guesser's requests take
    // turns a second apart, and those that would wait past the longest
    // delay are refused at once with SlowDown.
    let mut parallel = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let head = badly_signed_list(&cluster);
        parallel.spawn(async move { send_from(guesser, addr, &head).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = parallel.join_next().await {
        answers.push(answer.expect("a parallel guess"));
    }
    let refused: Vec<&(String, Duration)> = answers
        .iter()
        .filter(|(code, _)| code == "SlowDown")
        .collect();
    assert!(refused.len() >= 4, "parallel guesses: {answers:?}");
    assert!(
        refused.iter().all(|(_, t)| *t < Duration::from_millis(500)),
        "refused at once: {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_the_limit_is_answered_431() {
    let cluster = cluster();
    let addr = cluster.addr;
    let big = "a".repeat(MAX_HEADER_BYTES + 1024);
    let answer = raw_request(addr, "GET", "/", &[("x-amz-meta-big".into(), big)], b"").await;
    assert_eq!(answer.status, 431, "{}", answer.text());
    // A head under the limit is read (and refused for being anonymous).
    let fits = "a".repeat(MAX_HEADER_BYTES / 2);
    let answer = raw_request(addr, "GET", "/", &[("x-amz-meta-big".into(), fits)], b"").await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.code(), "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_under_the_minimum_rate_gets_request_timeout() {
    let cluster = cluster();
    let client = cluster.client();
    let bucket = bucket_name("slow-body");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let length = 100_000usize;
    let target = format!("/{bucket}/slow");
    let (headers, _) = sign_v4(
        &cluster,
        "PUT",
        &target,
        &[("content-length".into(), length.to_string())],
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(cluster.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    let (mut reader, mut writer) = stream.into_split();
    // 100 bytes per second: a tenth of the minimum.
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            if writer.write_all(&[b'x'; 100]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let answer_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for _ in 0..1000 {
        if String::from_utf8_lossy(&raw).contains("</Error>") {
            break;
        }
        match tokio::time::timeout_at(answer_deadline, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            other => panic!(
                "no answer to a slow body ({other:?}): {}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let took = started.elapsed();
    trickle.abort();
    assert_eq!(
        status_of(&raw),
        Some(400),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(code_of(&raw), "RequestTimeout");
    assert!(
        took >= BODY_RATE_WINDOW && took < BODY_RATE_WINDOW + Duration::from_secs(5),
        "cut off after the window: {took:?}"
    );
    // Nothing was stored.
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("slow")
        .send()
        .await;
    assert!(head.is_err(), "the slow object is not stored");
}
