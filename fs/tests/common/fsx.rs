//! fsx through a real mount: seeded random writes, truncates, punched holes
//! and zeroed ranges (fallocate), copy_file_range between the files, reads
//! at random offsets and lengths, renames, fsyncs and reopens on a few files,
//! every read compared with the same operation on a file of the local
//! disk. The seed is printed; `CAIRN_TEST_SEED=<seed>` replays a run,
//! `FSX_LOG=1` prints each operation and `FSX_CHECK_EACH=1` compares every
//! open file before each step (to find the step that broke one).

use std::{
    fs::{self, File, OpenOptions},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use rand::{rngs::StdRng, Rng, SeedableRng};

/// close(2) with its error (dropping a `File` ignores it).
pub fn close(f: File) -> std::io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = f.into_raw_fd();
    // SAFETY: `fd` is owned and closed exactly once here.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// fallocate(2) of `[off, off + len)` with `mode`.
fn fallocate(f: &File, mode: i32, off: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor.
    let rc =
        unsafe { libc::fallocate(f.as_raw_fd(), mode, off as libc::off_t, len as libc::off_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// copy_file_range(2) until `len` bytes or the source's end: the count.
pub fn copy_range(
    src: &File,
    off_in: u64,
    dst: &File,
    off_out: u64,
    len: u64,
) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    let (mut off_in, mut off_out) = (off_in as libc::loff_t, off_out as libc::loff_t);
    let mut done = 0u64;
    while done < len {
        // SAFETY: valid descriptors and offsets for the call's length.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                (len - done) as usize,
                0,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    Ok(done)
}

/// `CAIRN_TEST_SEED` when set, else a fresh seed (printed by [`run`]).
pub fn seed() -> u64 {
    cairn_testkit::given_seed().unwrap_or_else(rand::random)
}

struct Pair {
    mount: PathBuf,
    local: PathBuf,
    fm: File,
    fl: File,
}

fn open(mount: PathBuf, local: PathBuf) -> Pair {
    let o = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .clone()
    };
    let fm = o()
        .open(&mount)
        .unwrap_or_else(|e| panic!("open {}: {e}", mount.display()));
    let fl = o().open(&local).unwrap();
    Pair {
        mount,
        local,
        fm,
        fl,
    }
}

/// Runs `ops` operations on `files` files under `dir` (in the mount),
/// mirrored under `local`; `max_size` bounds offsets.
pub fn run(dir: &Path, local: &Path, seed: u64, ops: u32, files: usize, max_size: u64) {
    let _seed = cairn_testkit::Seed::new(seed, "fsx");
    let mut rng = StdRng::seed_from_u64(seed);
    let log = std::env::var_os("FSX_LOG").is_some();
    let name = |i: usize| format!("fsx{i}");
    let mut pairs: Vec<Option<Pair>> = (0..files).map(|_| None).collect();
    let check_each = std::env::var_os("FSX_CHECK_EACH").is_some();
    for step in 0..ops {
        if check_each {
            for (k, p) in pairs.iter().enumerate() {
                if let Some(p) = p {
                    let mut got = Vec::new();
                    let mut want = Vec::new();
                    std::io::Read::read_to_end(&mut File::open(&p.mount).unwrap(), &mut got)
                        .unwrap();
                    std::io::Read::read_to_end(&mut File::open(&p.local).unwrap(), &mut want)
                        .unwrap();
                    if got != want {
                        let first = got.iter().zip(&want).position(|(a, b)| a != b);
                        panic!("before step {step}: file {k} differs ({} vs {} bytes, first at {first:?})", got.len(), want.len());
                    }
                }
            }
        }
        let i = rng.random_range(0..files);
        let ctx = format!("seed {seed} step {step} file {i}");
        if pairs[i].is_none() {
            pairs[i] = Some(open(dir.join(name(i)), local.join(name(i))));
        }
        let op = rng.random_range(0..100);
        if log {
            println!("step {step} file {i} op {op}");
        }
        if (64..=67).contains(&op) {
            // copy_file_range from another file of the set (or this one,
            // to a range that does not overlap).
            let j = rng.random_range(0..files);
            if pairs[j].is_none() {
                pairs[j] = Some(open(dir.join(name(j)), local.join(name(j))));
            }
            let off_in = rng.random_range(0..max_size);
            let off_out = rng.random_range(0..max_size);
            let len = rng.random_range(1..=(1u64 << 20));
            if i == j && off_in < off_out + len && off_out < off_in + len {
                continue;
            }
            if log {
                println!("  copy_file_range {j}:{off_in}+{len} -> {off_out}");
            }
            let src = pairs[j].as_ref().expect("source pair");
            let (src_m, src_l) = (src.fm.try_clone().unwrap(), src.fl.try_clone().unwrap());
            let p = pairs[i].as_ref().expect("open pair");
            let got = copy_range(&src_m, off_in, &p.fm, off_out, len)
                .unwrap_or_else(|e| panic!("copy_file_range: {e} ({ctx})"));
            let want = copy_range(&src_l, off_in, &p.fl, off_out, len).unwrap();
            assert_eq!(got, want, "bytes copied ({ctx})");
            continue;
        }
        let p = pairs[i].as_mut().expect("open pair");
        match op {
            60..=63 => {
                // A punched hole or a zeroed range, the size kept or not.
                let off = rng.random_range(0..max_size);
                let len = rng.random_range(1..=(2u64 << 20));
                let mode = match rng.random_range(0..3) {
                    0 => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    1 => libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                    _ => libc::FALLOC_FL_ZERO_RANGE,
                };
                if log {
                    println!("  fallocate {mode:#x} {off}+{len}");
                }
                fallocate(&p.fm, mode, off, len)
                    .unwrap_or_else(|e| panic!("fallocate {mode:#x} {off}+{len}: {e} ({ctx})"));
                fallocate(&p.fl, mode, off, len).unwrap();
            }
            0..=37 => {
                let off = rng.random_range(0..max_size);
                let len = rng
                    .random_range(1..=(256 << 10))
                    .min((max_size - off) as usize + 1);
                let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                if log {
                    println!("  write {off}+{len}");
                }
                p.fm.write_all_at(&data, off)
                    .unwrap_or_else(|e| panic!("write {off}+{len}: {e} ({ctx})"));
                p.fl.write_all_at(&data, off).unwrap();
            }
            38..=59 => {
                let off = rng.random_range(0..max_size + 4096);
                let len = rng.random_range(1..=(300 << 10));
                let size = p.fl.metadata().unwrap().len();
                let want_len = size.saturating_sub(off).min(len as u64) as usize;
                let mut want = vec![0u8; want_len];
                p.fl.read_exact_at(&mut want, off).unwrap();
                let mut got = vec![0u8; len];
                let mut n = 0;
                while n < len {
                    let r =
                        p.fm.read_at(&mut got[n..], off + n as u64)
                            .unwrap_or_else(|e| panic!("read {off}+{len}: {e} ({ctx})"));
                    if r == 0 {
                        break;
                    }
                    n += r;
                }
                got.truncate(n);
                if got != want {
                    let first = got.iter().zip(&want).position(|(a, b)| a != b);
                    panic!(
                        "read {off}+{len}: got {} bytes, want {}; first difference at {first:?} ({ctx})",
                        got.len(),
                        want.len()
                    );
                }
            }
            68..=74 => {
                let size = rng.random_range(0..max_size);
                if log {
                    println!("  truncate {size}");
                }
                p.fm.set_len(size)
                    .unwrap_or_else(|e| panic!("truncate {size}: {e} ({ctx})"));
                p.fl.set_len(size).unwrap();
            }
            75..=79 => {
                p.fm.sync_all()
                    .unwrap_or_else(|e| panic!("fsync: {e} ({ctx})"));
            }
            80..=84 => {
                let got = p.fm.metadata().unwrap().len();
                let want = p.fl.metadata().unwrap().len();
                assert_eq!(got, want, "size ({ctx})");
            }
            85..=92 => {
                // close and compare the whole file as a new reader sees it.
                let pair = pairs[i].take().expect("pair");
                close(pair.fm).unwrap_or_else(|e| panic!("close: {e} ({ctx})"));
                let got = fs::read(&pair.mount).unwrap_or_else(|e| panic!("reread: {e} ({ctx})"));
                let want = fs::read(&pair.local).unwrap();
                if got != want {
                    let first = got.iter().zip(&want).position(|(a, b)| a != b);
                    panic!(
                        "content after close differs: {} bytes, want {}, first difference at {first:?} ({ctx})",
                        got.len(),
                        want.len()
                    );
                }
            }
            _ => {
                // rename over another file of the set.
                let j = (i + 1 + rng.random_range(0..files - 1)) % files;
                fs::rename(dir.join(name(i)), dir.join(name(j)))
                    .unwrap_or_else(|e| panic!("rename to {j}: {e} ({ctx})"));
                fs::rename(local.join(name(i)), local.join(name(j))).unwrap();
                // Handles follow their files: the one on i now names j.
                let moved = pairs[i].take().map(|mut p| {
                    p.mount = dir.join(name(j));
                    p.local = local.join(name(j));
                    p
                });
                pairs[j] = moved;
            }
        }
    }
    for (i, p) in pairs.into_iter().enumerate() {
        if let Some(p) = p {
            drop(p.fm);
            let got = fs::read(&p.mount).unwrap();
            let want = fs::read(&p.local).unwrap();
            assert!(
                got == want,
                "final content of file {i} differs (seed {seed})"
            );
        }
    }
}
