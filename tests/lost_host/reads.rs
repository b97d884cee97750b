//! A long GET whose replica's host is cut goes on from another replica.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_get_streaming_256_mib_goes_on_when_its_replica_host_is_cut() {
    const SIZE: usize = 256 * MIB;
    const BEFORE_CUT: usize = 24 * MIB;
    let _serial = serial().await;
    let ha = start_cluster();
    let s3 = ha.s3();
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create the bucket");
    let data = common::heal::pattern_bytes(25, SIZE);
    let want = md5_hex(&data);
    let t = Instant::now();
    s3.put_object()
        .bucket(BUCKET)
        .key("big")
        .body(data.into())
        .send()
        .await
        .expect("PUT 256 MiB");
    eprintln!("PUT 256 MiB took {:?}", t.elapsed());

    let started = Instant::now();
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("big")
        .send()
        .await
        .expect("GET 256 MiB");
    let mut body = got.body;
    let mut h = md5::Md5::new();
    use md5::Digest;
    let mut read = 0usize;
    while read < BEFORE_CUT {
        let piece = tokio::time::timeout(OP_BOUND, body.next())
            .await
            .expect("a piece of the body")
            .expect("the body goes on")
            .expect("a piece before the cut");
        read += piece.len();
        h.update(&piece);
    }
    // The chunk server listed first for most of what is left to read:
    // the one the gateway reads from (its host is none of h1..h3).
    let chunks = tokio::task::block_in_place(|| ha.inner.chunks_json(&format!("{BUCKET}/big")));
    let mut firsts: BTreeMap<u64, usize> = BTreeMap::new();
    for c in &chunks {
        let end = c["file_offset"].as_u64().unwrap_or(0) + c["length"].as_u64().unwrap_or(0);
        if end as usize > read {
            if let Some(cs) = c["replicas"][0]["cs_id"].as_u64() {
                *firsts.entry(cs).or_default() += 1;
            }
        }
    }
    let (cs, n) = firsts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(cs, n)| (*cs, *n))
        .expect("chunks left to read");
    let host = ha
        .host_of_cs(cs as u32)
        .expect("the host of the chunk server");
    let cut = ha.stop_cs(host);
    eprintln!(
        "stopped chunk server {cs} ({}), first replica of {n} of the {} chunks left, after {read} bytes of the GET",
        HOSTS[host],
        firsts.values().sum::<usize>()
    );
    let cut_at = cut.at;
    let mut stall = Duration::ZERO;
    let mut last = Instant::now();
    loop {
        let piece = tokio::time::timeout(OP_BOUND, body.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the GET stalled for {OP_BOUND:?} after {read} bytes with {} stopped",
                    HOSTS[host]
                )
            });
        let Some(piece) = piece else { break };
        let piece = piece.unwrap_or_else(|e| {
            panic!(
                "the GET failed after {read} bytes, {:?} after the stop: {e}",
                cut_at.elapsed()
            )
        });
        stall = stall.max(last.elapsed());
        last = Instant::now();
        read += piece.len();
        h.update(&piece);
    }
    let took = started.elapsed();
    let after_cut = cut_at.elapsed();
    drop(cut);
    assert_eq!(read, SIZE, "bytes of the GET");
    assert_eq!(hex::encode(h.finalize()), want, "MD5 of the GET");
    eprintln!(
        "FIGURES GET of 256 MiB with the chunk server it read from stopped mid-stream: complete and right in {took:?} ({after_cut:?} after the stop); longest wait for a piece {stall:?}"
    );
}
