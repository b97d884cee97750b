//! The model-based random-operation test (in the spirit of fsx) over the
//! filesystem logic: seeded random writes, truncates, reads, renames,
//! punched holes and zeroed ranges (fallocate), SEEK_DATA, flushes,
//! fsyncs and reopen on a few files, every read compared with the
//! same operations applied to byte vectors, and the committed content
//! compared after each close. Replay a failure with `CAIRN_TEST_SEED=<seed>`.

use std::collections::HashMap;

use bytes::Bytes;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{bucket, small_fs, truncate_to};
use crate::fs::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA};

const FILES: usize = 3;
const MAX_SIZE: u64 = 3000;

#[tokio::test]
async fn random_operations_match_a_byte_model() {
    let guard = cairn_testkit::Seed::take("fsx model");
    let seed = guard.value();
    let mut rng = StdRng::seed_from_u64(seed);
    let (fs, cluster) = small_fs();
    let b = bucket(&fs, "fsx").await;
    let name = |i: usize| format!("file{i}").into_bytes();
    // name index -> (ino, fh) of the open file under that name.
    let mut open: HashMap<usize, (u64, u64)> = HashMap::new();
    let mut model: HashMap<usize, Vec<u8>> = HashMap::new();
    for step in 0..4000u32 {
        let i = rng.random_range(0..FILES);
        let ctx = format!("seed {seed} step {step} file {i}");
        #[allow(clippy::map_entry)]
        if !open.contains_key(&i) {
            let (n, fh) = fs
                .create(b.ino, &name(i), 0o644, 0, 0, 0)
                .await
                .unwrap_or_else(|e| panic!("create: {e} ({ctx})"));
            model.entry(i).or_default();
            assert_eq!(n.size, model[&i].len() as u64, "size at open ({ctx})");
            open.insert(i, (n.ino, fh));
        }
        let (ino, fh) = open[&i];
        let m = model.get_mut(&i).expect("model file");
        match rng.random_range(0..100) {
            0..=39 => {
                let off = rng.random_range(0..MAX_SIZE);
                let len = rng.random_range(1..400).min(MAX_SIZE - off + 1) as usize;
                let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                fs.write(fh, off, Bytes::from(data.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("write: {e} ({ctx})"));
                let end = off as usize + len;
                if m.len() < end {
                    m.resize(end, 0);
                }
                m[off as usize..end].copy_from_slice(&data);
            }
            40..=64 if rng.random_range(0..5) == 0 => {
                // fallocate: a punched hole, or a zeroed range that may
                // extend the file.
                let off = rng.random_range(0..MAX_SIZE);
                let len = rng.random_range(1..600);
                let zero = rng.random_bool(0.4);
                let keep = !zero || rng.random_bool(0.5);
                let mode = match (zero, keep) {
                    (false, _) => FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    (true, true) => FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                    (true, false) => FALLOC_FL_ZERO_RANGE,
                };
                fs.fallocate(fh, off, len, mode)
                    .await
                    .unwrap_or_else(|e| panic!("fallocate {mode:#x}: {e} ({ctx})"));
                let end = (off + len) as usize;
                if !keep && m.len() < end {
                    m.resize(end, 0);
                }
                let to = end.min(m.len());
                if (off as usize) < to {
                    m[off as usize..to].fill(0);
                }
            }
            40..=64 => {
                let off = rng.random_range(0..MAX_SIZE + 100);
                let len = rng.random_range(1..800u32);
                let got = fs
                    .read(fh, off, len)
                    .await
                    .unwrap_or_else(|e| panic!("read: {e} ({ctx})"));
                let from = (off as usize).min(m.len());
                let to = (off as usize + len as usize).min(m.len());
                assert_eq!(got, &m[from..to], "read {off}+{len} ({ctx})");
            }
            65..=74 => {
                let size = rng.random_range(0..MAX_SIZE);
                fs.setattr(ino, truncate_to(size))
                    .await
                    .unwrap_or_else(|e| panic!("truncate: {e} ({ctx})"));
                m.resize(size as usize, 0);
            }
            75..=79 => {
                fs.fsync(fh)
                    .await
                    .unwrap_or_else(|e| panic!("fsync: {e} ({ctx})"));
            }
            80..=84 => {
                let attr = fs
                    .getattr(ino)
                    .await
                    .unwrap_or_else(|e| panic!("getattr: {e} ({ctx})"));
                assert_eq!(attr.size, m.len() as u64, "getattr size ({ctx})");
                // SEEK_DATA skips only zeros, and finds none at the end.
                let at = rng.random_range(0..MAX_SIZE);
                match fs.lseek(fh, at as i64, SEEK_DATA).await {
                    Ok(d) => {
                        let d = d as usize;
                        assert!(d >= at as usize && d < m.len(), "data at {d} ({ctx})");
                        assert!(
                            m[at as usize..d].iter().all(|b| *b == 0),
                            "SEEK_DATA from {at} skipped data before {d} ({ctx})"
                        );
                    }
                    Err(e) => {
                        assert_eq!(e.errno(), libc::ENXIO, "lseek: {e} ({ctx})");
                        let from = (at as usize).min(m.len());
                        assert!(
                            m[from..].iter().all(|b| *b == 0),
                            "ENXIO with data after {at} ({ctx})"
                        );
                    }
                }
            }
            85..=92 => {
                // close: the committed content is the model's.
                fs.flush(fh)
                    .await
                    .unwrap_or_else(|e| panic!("flush: {e} ({ctx})"));
                fs.release(fh)
                    .await
                    .unwrap_or_else(|e| panic!("release: {e} ({ctx})"));
                open.remove(&i);
                assert_eq!(
                    &cluster.content(ino),
                    m,
                    "committed content after close ({ctx})"
                );
            }
            _ => {
                // rename over another name; a handle open on the replaced
                // file keeps reading its old content.
                let j = (i + 1 + rng.random_range(0..FILES - 1)) % FILES;
                let src = model.remove(&i).expect("model file");
                let old_target = model.insert(j, src);
                fs.rename(b.ino, &name(i), b.ino, &name(j), false)
                    .await
                    .unwrap_or_else(|e| panic!("rename to {j}: {e} ({ctx})"));
                if let Some((_, fh_j)) = open.remove(&j) {
                    let old = old_target.unwrap_or_default();
                    let got = fs
                        .read(fh_j, 0, MAX_SIZE as u32 * 2)
                        .await
                        .unwrap_or_else(|e| panic!("read replaced: {e} ({ctx})"));
                    assert_eq!(got, old, "replaced file through its handle ({ctx})");
                    fs.release(fh_j)
                        .await
                        .unwrap_or_else(|e| panic!("release: {e} ({ctx})"));
                }
                if let Some(moved) = open.remove(&i) {
                    open.insert(j, moved);
                }
            }
        }
    }
    for (i, (ino, fh)) in open.drain() {
        fs.release(fh).await.unwrap();
        assert_eq!(
            cluster.content(ino),
            model[&i],
            "final content, seed {seed}"
        );
    }
}
