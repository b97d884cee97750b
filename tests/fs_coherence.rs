//! One file, two hosts: two mounts of one cluster, each its own process as
//! if on its own host, write and read the same files.
//!
//! * A file written and closed on one mount reads back byte for byte on the
//!   other at once (a VM moved from host A to host B).
//! * A reader that keeps the file open sees the other host's writes once
//!   that host's fsync returns: its page cache is dropped by the watch
//!   (FUSE notify), not served stale until it reopens.
//! * Writes one mount buffered reach the chunks before a later write of
//!   another mount to the same bytes (the write lease goes back only after
//!   the buffer is sent), and two mounts writing the same blocks never
//!   leave a torn 4 KiB block.

mod common;
mod ops_support;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::FileExt,
    path::Path,
    time::Duration,
};

use common::pattern;
use ops_support::{eventually, two_mounts::two_mounts};

const BLOCK: usize = 4096;

fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn read_at(f: &File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset).expect("read");
    buf
}

#[test]
fn a_file_written_on_one_host_reads_back_on_the_other() {
    let m = two_mounts("coherent");
    let on_a = m.a.join(&m.bucket);
    let on_b = m.b.join(&m.bucket);

    // Host A writes an image and closes it; host B opens it and reads
    // every byte (a live migration's hand-over).
    let image = pattern(1, 24 << 20);
    std::fs::write(on_a.join("image"), &image).expect("write through a");
    let read = eventually(Duration::from_secs(10), "the image on b", || {
        std::fs::read(on_b.join("image")).ok()
    });
    assert!(read == image, "b read other bytes than a wrote");

    // B keeps the file open and has read it (its pages are cached); A
    // rewrites the middle and fsyncs: B's next read through the same
    // descriptor sees the new bytes.
    let reader = File::open(on_b.join("image")).expect("open on b");
    assert_eq!(read_at(&reader, 8 << 20, 1 << 20), image[8 << 20..9 << 20]);
    let new = pattern(2, 1 << 20);
    let writer = open_rw(&on_a.join("image"));
    writer
        .write_all_at(&new, 8 << 20)
        .expect("rewrite through a");
    writer.sync_all().expect("fsync through a");
    eventually(
        Duration::from_secs(5),
        "a's rewrite through b's open file",
        || (read_at(&reader, 8 << 20, 1 << 20) == new).then_some(()),
    );
    // The bytes around it are unchanged, also for a file opened afresh.
    assert_eq!(read_at(&reader, 0, 1 << 20), image[..1 << 20]);
    let fresh = std::fs::read(on_b.join("image")).expect("read on b");
    assert!(fresh[8 << 20..9 << 20] == new[..] && fresh[..8 << 20] == image[..8 << 20]);
}

#[test]
fn buffered_writes_of_one_mount_land_before_a_later_write_of_another() {
    let m = two_mounts("lease");
    let path_a = m.a.join(&m.bucket).join("disk");
    let path_b = m.b.join(&m.bucket).join("disk");
    std::fs::write(&path_a, vec![0u8; 1 << 20]).expect("make the file");

    // A writes the whole file and keeps it open without fsync: its bytes
    // wait in its buffer.
    let a = open_rw(&path_a);
    let a_bytes = pattern(3, 1 << 20);
    a.write_all_at(&a_bytes, 0).expect("write through a");
    // Then B writes the first block and fsyncs: A is made to send its
    // buffer first, so B's block is the one that stays.
    let b = eventually(Duration::from_secs(10), "the file on b", || {
        OpenOptions::new().write(true).open(&path_b).ok()
    });
    let b_block = pattern(4, BLOCK);
    b.write_all_at(&b_block, 0).expect("write through b");
    b.sync_all().expect("fsync through b");
    drop(b);
    drop(a);

    let mut expected = a_bytes.clone();
    expected[..BLOCK].copy_from_slice(&b_block);
    for (name, path) in [("a", &path_a), ("b", &path_b)] {
        let got = eventually(Duration::from_secs(5), "the file settled", || {
            let got = std::fs::read(path).ok()?;
            (got == expected).then_some(got)
        });
        assert_eq!(got.len(), expected.len(), "read through {name}");
    }
}

#[test]
fn two_mounts_writing_the_same_blocks_never_tear_one() {
    let m = two_mounts("torn");
    let path_a = m.a.join(&m.bucket).join("shared");
    let path_b = m.b.join(&m.bucket).join("shared");
    const BLOCKS: usize = 64;
    std::fs::write(&path_a, vec![0u8; BLOCKS * BLOCK]).expect("make the file");
    let b_file = eventually(Duration::from_secs(10), "the file on b", || {
        OpenOptions::new().write(true).open(&path_b).ok()
    });
    let a_file = open_rw(&path_a);

    // Each writer fills whole blocks with one byte value of its own (odd
    // for a, even for b), fsyncing now and then; 300 writes each.
    let writer = |f: File, odd: u8| {
        std::thread::spawn(move || {
            for i in 0..300u64 {
                let block = (i * 7 + u64::from(odd) * 13) % BLOCKS as u64;
                let value = ((i % 100) as u8) * 2 + odd + 2;
                f.write_all_at(&vec![value; BLOCK], block * BLOCK as u64)
                    .expect("write");
                if i % 25 == 0 {
                    f.sync_data().expect("fdatasync");
                }
            }
            f.sync_all().expect("fsync");
        })
    };
    let (ta, tb) = (writer(a_file, 1), writer(b_file, 0));
    ta.join().expect("writer a");
    tb.join().expect("writer b");

    let through_a = std::fs::read(&path_a).expect("read through a");
    let through_b = eventually(Duration::from_secs(5), "b sees what a sees", || {
        let b = std::fs::read(&path_b).ok()?;
        (b == through_a).then_some(b)
    });
    assert_eq!(through_b.len(), BLOCKS * BLOCK);
    for (i, block) in through_a.chunks(BLOCK).enumerate() {
        assert!(
            block.iter().all(|b| *b == block[0]),
            "block {i} is torn: it mixes bytes of two writes"
        );
    }
}

/// The writer of `sqlite_wal_one_writer_one_reader`: `N` transactions of
/// `K` rows each, row `id` holding `v = id`, checkpointing often; then it
/// keeps its connection (and its mapping of the `-shm`) until told to go.
const WAL_WRITER: &str = r#"
import sqlite3, sys
path, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path, timeout=30, isolation_level=None)
assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
db.execute("PRAGMA wal_autocheckpoint=40")
for i in range(n):
    db.execute("BEGIN IMMEDIATE")
    for j in range(k):
        row = i * k + j + 1
        db.execute("INSERT INTO t(id, v) VALUES (?, ?)", (row, row))
    db.execute("COMMIT")
print("committed", n, flush=True)
sys.stdin.readline()
db.close()
"#;

/// The reader: one connection reading (count, sum) until it sees `total`
/// rows or `secs` pass; prints each new count, then the integrity check.
const WAL_READER: &str = r#"
import sqlite3, sys, time
path, total, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
db = sqlite3.connect(path, timeout=30, isolation_level=None)
deadline = time.monotonic() + secs
last, reads = None, 0
while True:
    count, total_v = db.execute("SELECT count(*), coalesce(sum(v), 0) FROM t").fetchone()
    reads += 1
    if count != last:
        print("seen", count, total_v, flush=True)
        last = count
    if count >= total or time.monotonic() > deadline:
        break
print("reads", reads, flush=True)
print("integrity", db.execute("PRAGMA integrity_check").fetchone()[0], flush=True)
"#;

/// A python3 process running `script`, its output gathered line by line.
struct Python {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reading: std::thread::JoinHandle<()>,
}

impl Python {
    fn start(script: &str, args: &[String]) -> Python {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (with its sqlite3 module) runs");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        let reading = std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Python {
            child,
            lines,
            reading,
        }
    }

    fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    fn printed(&self, line: &str) -> bool {
        self.lines.lock().expect("lines").iter().any(|l| l == line)
    }

    /// Waits for the end (killed at `deadline`); its output.
    fn finish(mut self, what: &str, deadline: std::time::Instant) -> String {
        drop(self.child.stdin.take());
        while self.child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.child.wait().expect("wait");
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        // The reading thread ends with the process's stdout.
        self.reading.join().expect("the output");
        let printed = self.lines.lock().expect("lines").join("\n");
        assert!(
            status.success(),
            "{what} failed ({status}):\n{printed}\n{stderr}"
        );
        printed
    }
}

// A grown `-wal` reaches the reader's kernel as a stored last byte: an
// invalidation that overtook the kernel's attribute request once left the
// old size behind, and the reader failed with SQLITE_IOERR_SHORT_READ
// about one run in three (SEMANTICS.md, "Between mounts").
#[test]
fn sqlite_wal_one_writer_one_reader() {
    const N: u64 = 150;
    const K: u64 = 5;
    let m = two_mounts("sqlite");
    let on_a = m.a.join(&m.bucket).join("app.db");
    let on_b = m.b.join(&m.bucket).join("app.db");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let setup = Python::start(
        "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
         db.execute('PRAGMA journal_mode=WAL')\n\
         db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)')\n",
        &[path(&on_a)],
    );
    setup.finish(
        "the setup on a",
        std::time::Instant::now() + Duration::from_secs(30),
    );
    eventually(Duration::from_secs(10), "the database on b", || {
        on_b.is_file().then_some(())
    });

    // The reader on B reads in a loop while A commits.
    let total = N * K;
    let mut reader = Python::start(WAL_READER, &[path(&on_b), total.to_string(), "120".into()]);
    let mut writer = Python::start(WAL_WRITER, &[path(&on_a), N.to_string(), K.to_string()]);
    let committed = format!("committed {N}");
    eventually(Duration::from_secs(90), "the writer's commits", || {
        writer.printed(&committed).then_some(())
    });
    // The writer keeps its connection open: the reader sees every row
    // soon after its last commit, not only once the writer closes.
    let all = format!("seen {total} {}", total * (total + 1) / 2);
    if !eventually_or_not(Duration::from_secs(20), || reader.printed(&all)) {
        let _ = (reader.child.kill(), writer.child.kill());
        panic!(
            "20 s after the writer's last commit the reader had not seen every row:\n{}",
            reader.output()
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let read = reader.finish("the reader on b", deadline);
    writer.finish("the writer on a", deadline);

    // Each read saw a prefix of the commits: whole transactions, counts
    // that only grow, and the sum of exactly those rows.
    let mut last = 0;
    for line in read.lines().filter(|l| l.starts_with("seen ")) {
        let v: Vec<u64> = line[5..]
            .split(' ')
            .map(|x| x.parse().expect("numbers"))
            .collect();
        let (count, sum) = (v[0], v[1]);
        assert!(count >= last, "the count went back from {last}: {read}");
        assert_eq!(count % K, 0, "a read saw part of a transaction: {read}");
        assert_eq!(
            sum,
            count * (count + 1) / 2,
            "rows other than 1..={count}: {read}"
        );
        last = count;
    }
    assert!(read.contains("integrity ok"), "integrity check: {read}");
}

/// Polls `done` until it holds or `limit` passes.
fn eventually_or_not(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
