//! Fewer hosts than a chunk's minimum: writes are refused with 503
//! (sent once, not retried away) and go on when a host returns.

use super::*;

/// An SDK client that sends each request once: a 503 must reach the test,
/// not be retried away.
fn one_shot_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{Credentials, Region};
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(true)
        .http_client(http)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fewer_hosts_than_the_minimum_refuse_writes_with_503() {
    let _serial = serial().await;
    let ha = start_cluster();
    let out = ha.cairn(&["key", "create", "one-shot", "--json"]);
    common::assert_success(&out, "key create");
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let s3 = one_shot_client(
        &format!("http://{}", ha.gateway_addr()),
        key["access_key"].as_str().expect("access_key"),
        key["secret_key"].as_str().expect("secret_key"),
    );
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket");
    s3.put_object()
        .bucket(BUCKET)
        .key("before")
        .body(pattern(1, 4 * KIB).into())
        .send()
        .await
        .expect("a PUT with every host up");

    // Two chunk servers of three stopped; the three MDS keep running.
    let leader = tokio::task::block_in_place(|| ha.leader());
    let hosts: Vec<usize> = (0..3).filter(|h| *h != leader).collect();
    let stopped: Vec<_> = hosts.iter().map(|h| ha.stop_cs(*h)).collect();
    let stopped_at = Instant::now();
    let mut tried = Vec::new();
    let mut refused = None;
    for i in 0..100u64 {
        let key = format!("refused/{i:03}");
        tried.push(key.clone());
        let sent = Instant::now();
        let put = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(pattern(100 + i, if i % 2 == 0 { 4 * KIB } else { 2 * MIB }).into())
            .send();
        let Ok(result) = tokio::time::timeout(OP_BOUND, put).await else {
            panic!("PUT {key} with one host of three gave no answer in {OP_BOUND:?}")
        };
        let took = sent.elapsed();
        match result {
            Ok(_) => panic!(
                "PUT {key} acknowledged {:?} after two chunk servers of three stopped: fewer hosts than the minimum of 2",
                stopped_at.elapsed()
            ),
            Err(e) => {
                let status = e.raw_response().map_or(0, |r| r.status().as_u16());
                let retry_after = e
                    .raw_response()
                    .and_then(|r| r.headers().get("retry-after"))
                    .map(str::to_string);
                eprintln!(
                    "PUT {key} refused after {took:?} ({:?} after the stop): HTTP {status} {} retry-after {retry_after:?}",
                    stopped_at.elapsed(),
                    e.code().unwrap_or("?")
                );
                if status == 503 {
                    assert_eq!(e.code(), Some("ServiceUnavailable"), "{e:?}");
                    let secs = retry_after
                        .as_deref()
                        .unwrap_or_else(|| panic!("a 503 without Retry-After: {e:?}"));
                    assert!(
                        secs.trim().parse::<u64>().is_ok_and(|s| s >= 1),
                        "Retry-After {secs:?} is not a number of seconds"
                    );
                    refused = Some((stopped_at.elapsed(), took));
                    break;
                }
            }
        }
        assert!(
            stopped_at.elapsed() < REFUSE_BOUND,
            "no 503 within {REFUSE_BOUND:?} of stopping two chunk servers of three"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (after_stop, took) = refused.expect("a PUT refused with 503");
    assert!(
        after_stop <= REFUSE_BOUND,
        "the first 503 came {after_stop:?} after the stop"
    );
    // Once the MDS counts the two offline, the allocation itself is
    // refused (the first 503 may have come from the write path, which
    // found only one replica to hold the data): 503 again, counted.
    let stopped_ids: BTreeSet<u64> = hosts.iter().map(|h| u64::from(ha.cs_id(*h))).collect();
    tokio::task::block_in_place(|| {
        common::eventually(
            Duration::from_secs(20),
            "the MDS to count the two stopped chunk servers offline",
            || {
                let stat = ha.try_stat()?;
                let servers = common::heal::servers(&stat);
                stopped_ids
                    .iter()
                    .all(|id| {
                        servers
                            .get(id)
                            .is_some_and(|(state, _, _)| state != "active")
                    })
                    .then_some(())
            },
        )
    });
    let sent = Instant::now();
    let again = tokio::time::timeout(
        OP_BOUND,
        s3.put_object()
            .bucket(BUCKET)
            .key("refused/offline")
            .body(pattern(99, 4 * KIB).into())
            .send(),
    )
    .await
    .expect("a PUT with two chunk servers offline answers");
    tried.push("refused/offline".into());
    let refused_again = sent.elapsed();
    assert_eq!(
        error_status(&again),
        503,
        "a PUT with two chunk servers of three offline: {again:?}"
    );
    let stat = tokio::task::block_in_place(|| ha.try_stat()).expect("cairn stat --json");
    let refusals = stat["allocations_refused"].as_u64().unwrap_or(0);
    assert!(
        refusals > 0,
        "a 503 with two chunk servers offline, but `cairn stat --json` counts no refused allocation: {}",
        stat["allocations_refused"]
    );
    eprintln!(
        "FIGURES two chunk servers of three stopped: a PUT refused with 503 + Retry-After {after_stop:?} after the stop, that PUT took {took:?}; once they were offline a PUT refused in {refused_again:?}; allocations refused: {refusals}; writing_degraded: {}",
        stat["writing_degraded"]
    );

    let resumed_at = Instant::now();
    drop(stopped);
    // Nothing of a refused PUT is visible.
    for key in &tried {
        let head = s3.head_object().bucket(BUCKET).key(key).send().await;
        match head {
            Ok(h) => panic!("refused {key} exists: {h:?}"),
            Err(e) => {
                let status = e.raw_response().map_or(0, |r| r.status().as_u16());
                assert_eq!(status, 404, "HEAD of refused {key}: {e:?}");
            }
        }
    }
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("refused/")
        .send()
        .await
        .expect("list");
    assert!(
        listed.contents().is_empty(),
        "refused keys are listed: {:?}",
        listed.contents()
    );
    // Writes work again once the chunk servers answer, with no manual step.
    let mut ok = None;
    for i in 0..200u64 {
        let put = s3
            .put_object()
            .bucket(BUCKET)
            .key(format!("after/{i:03}"))
            .body(pattern(500 + i, 64 * KIB).into())
            .send();
        if let Ok(Ok(_)) = tokio::time::timeout(OP_BOUND, put).await {
            ok = Some(format!("after/{i:03}"));
            break;
        }
        assert!(
            resumed_at.elapsed() < Duration::from_secs(30),
            "no PUT acknowledged within 30 s of SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ok = ok.expect("a PUT after SIGCONT");
    eprintln!(
        "PUT {ok} acknowledged {:?} after SIGCONT",
        resumed_at.elapsed()
    );
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("before")
        .send()
        .await
        .expect("GET before");
    let data = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(md5_hex(&data), md5_hex(&pattern(1, 4 * KIB)));
}
