//! Locks across hosts: two mounts of one cluster, each its own process as
//! if on its own host (the mount of `cairn up --mount`, and a `cairn
//! mount`), see each other's locks. `fcntl` record locks, OFD locks and
//! `flock` taken through one are refused through the other and reported by
//! `F_GETLK` with the holder's pid; an `F_SETLKW` waits and is woken by the
//! release, ends with `EINTR` on a signal, and answers `EDEADLK` when it
//! would close a cycle; POSIX drops a process's locks at any close; and a
//! mount killed with SIGKILL loses its locks when its lease runs out.

mod common;
mod ops_support;

use std::{
    fs::File,
    io,
    os::{fd::AsRawFd, unix::thread::JoinHandleExt},
    path::Path,
    sync::mpsc,
    time::{Duration, Instant},
};

use ops_support::{
    eventually,
    two_mounts::{two_mounts, TwoMounts},
};

/// Longer than the MDS's lock lease (10 s) and a renew interval.
const LEASE_AND_SLACK: Duration = Duration::from_secs(25);

/// A file made through mount a, opened read-write through both.
fn shared_file(m: &TwoMounts, name: &str) -> (File, File) {
    std::fs::write(m.a.join(&m.bucket).join(name), vec![7u8; 4096]).expect("write through a");
    let open = |root: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(root.join(&m.bucket).join(name))
            .unwrap_or_else(|e| panic!("open {name} through {}: {e}", root.display()))
    };
    let via_a = open(&m.a);
    let via_b = eventually(Duration::from_secs(10), "the file on mount b", || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(m.b.join(&m.bucket).join(name))
            .ok()
    });
    (via_a, via_b)
}

fn flock_struct(typ: i32, start: i64, len: i64) -> libc::flock {
    // SAFETY: flock is plain old data; every field is set or zero.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = typ as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = len;
    fl
}

/// fcntl(F_SETLK / F_SETLKW / F_OFD_SETLK ...) of `[start, start+len)`.
fn lock(f: &File, cmd: i32, typ: i32, start: i64, len: i64) -> io::Result<()> {
    let mut fl = flock_struct(typ, start, len);
    // SAFETY: a valid descriptor and a valid flock for the call.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// F_GETLK (or F_OFD_GETLK): the lock in the way, if any.
fn test(f: &File, cmd: i32, typ: i32, start: i64, len: i64) -> Option<libc::flock> {
    let mut fl = flock_struct(typ, start, len);
    // SAFETY: as in `lock`.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl) };
    assert_eq!(rc, 0, "F_GETLK: {}", io::Error::last_os_error());
    (fl.l_type != libc::F_UNLCK as libc::c_short).then_some(fl)
}

fn flock(f: &File, op: i32) -> io::Result<()> {
    // SAFETY: a valid descriptor.
    let rc = unsafe { libc::flock(f.as_raw_fd(), op) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn would_block(r: io::Result<()>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EAGAIN) || e.raw_os_error() == Some(libc::EACCES))
}

extern "C" fn on_usr1(_: libc::c_int) {}

#[test]
fn locks_are_seen_across_mounts() {
    let m = two_mounts("locks");

    // fcntl: a write lock through a is refused through b and reported
    // with this process as its holder; a read lock elsewhere is not.
    let (fa, fb) = shared_file(&m, "fcntl");
    lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 100).expect("lock through a");
    assert!(would_block(lock(&fb, libc::F_SETLK, libc::F_RDLCK, 50, 10)));
    let held = test(&fb, libc::F_GETLK, libc::F_RDLCK, 0, 1).expect("F_GETLK sees a's lock");
    assert_eq!(held.l_type, libc::F_WRLCK as libc::c_short);
    assert_eq!((held.l_start, held.l_len), (0, 100));
    assert_eq!(held.l_pid, std::process::id() as i32);
    lock(&fb, libc::F_SETLK, libc::F_RDLCK, 100, 10).expect("a range beside it");
    assert!(test(&fb, libc::F_GETLK, libc::F_WRLCK, 200, 10).is_none());

    // F_SETLKW through b waits for a's lock and is woken by its release.
    // (The thread hands its descriptor back: closing it would drop the
    // lock it takes, as POSIX says.)
    let fb2 = fb.try_clone().expect("dup");
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let got = lock(&fb2, libc::F_SETLKW, libc::F_WRLCK, 10, 1);
        (got, started.elapsed(), fb2)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiter.is_finished(),
        "F_SETLKW returned while the lock was held"
    );
    lock(&fa, libc::F_SETLK, libc::F_UNLCK, 0, 100).expect("unlock through a");
    let (got, waited, _fb2) = waiter.join().expect("waiter");
    got.expect("F_SETLKW granted after the release");
    assert!(
        waited < Duration::from_secs(5),
        "woken {waited:?} after it began"
    );
    assert!(would_block(lock(&fa, libc::F_SETLK, libc::F_WRLCK, 10, 1)));

    // POSIX: closing any descriptor of the file drops the process's locks
    // taken through that mount.
    let another_b = std::fs::File::open(m.b.join(&m.bucket).join("fcntl")).expect("open");
    drop(another_b);
    eventually(Duration::from_secs(5), "b's locks dropped at close", || {
        lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 200).ok()
    });
    lock(&fa, libc::F_SETLK, libc::F_UNLCK, 0, 0).expect("unlock all");

    // A signal ends a waiting F_SETLKW with EINTR.
    let (fa, fb) = shared_file(&m, "interrupted");
    // SAFETY: installs a handler that does nothing, without SA_RESTART, so
    // that an interrupted fcntl returns EINTR.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &act, std::ptr::null_mut());
    }
    lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 1).expect("lock through a");
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let got = lock(&fb, libc::F_SETLKW, libc::F_WRLCK, 0, 1);
        let _ = tx.send(());
        got
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiter.is_finished(),
        "F_SETLKW returned while the lock was held"
    );
    // SAFETY: the thread is alive (it has not sent yet) and SIGUSR1 has a
    // handler.
    unsafe { libc::pthread_kill(waiter.as_pthread_t(), libc::SIGUSR1) };
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the signal ended the wait");
    let got = waiter.join().expect("waiter");
    assert_eq!(got.map_err(|e| e.raw_os_error()), Err(Some(libc::EINTR)));
    assert!(
        test(&fa, libc::F_GETLK, libc::F_WRLCK, 0, 1).is_none(),
        "a holds it still"
    );

    // Two owners each waiting for the other: the second wait is EDEADLK.
    let (fa, fb) = shared_file(&m, "deadlock");
    lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 1).expect("a takes byte 0");
    lock(&fb, libc::F_SETLK, libc::F_WRLCK, 10, 1).expect("b takes byte 10");
    let fa2 = fa.try_clone().expect("dup");
    let first = std::thread::spawn(move || lock(&fa2, libc::F_SETLKW, libc::F_WRLCK, 10, 1));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!first.is_finished(), "a got byte 10 while b held it");
    let second = lock(&fb, libc::F_SETLKW, libc::F_WRLCK, 0, 1);
    assert_eq!(
        second.map_err(|e| e.raw_os_error()),
        Err(Some(libc::EDEADLK))
    );
    lock(&fb, libc::F_SETLK, libc::F_UNLCK, 10, 1).expect("b lets byte 10 go");
    first.join().expect("first").expect("a gets byte 10");

    // OFD locks belong to the open file: refused to the other mount.
    let (fa, fb) = shared_file(&m, "ofd");
    lock(&fa, libc::F_OFD_SETLK, libc::F_WRLCK, 0, 0).expect("OFD lock through a");
    assert!(would_block(lock(
        &fb,
        libc::F_OFD_SETLK,
        libc::F_RDLCK,
        0,
        1
    )));
    assert!(test(&fb, libc::F_OFD_GETLK, libc::F_RDLCK, 0, 1).is_some());
    drop(fa);
    eventually(
        Duration::from_secs(5),
        "the OFD lock dropped at close",
        || lock(&fb, libc::F_OFD_SETLK, libc::F_WRLCK, 0, 0).ok(),
    );

    // flock: one exclusive holder across both mounts, until it closes.
    let (fa, fb) = shared_file(&m, "flock");
    flock(&fa, libc::LOCK_EX).expect("flock through a");
    assert!(would_block(flock(&fb, libc::LOCK_EX | libc::LOCK_NB)));
    assert!(would_block(flock(&fb, libc::LOCK_SH | libc::LOCK_NB)));
    drop(fa);
    eventually(Duration::from_secs(5), "the flock dropped at close", || {
        flock(&fb, libc::LOCK_EX | libc::LOCK_NB).ok()
    });
    drop(m);
}

#[test]
fn a_killed_mount_loses_its_locks_after_the_lease() {
    let mut m = two_mounts("locks");
    let (fa, fb) = shared_file(&m, "orphan");
    let (fa_flock, fb_flock) = shared_file(&m, "orphan-flock");
    lock(&fb, libc::F_SETLK, libc::F_WRLCK, 0, 0).expect("lock through b");
    flock(&fb_flock, libc::LOCK_EX | libc::LOCK_NB).expect("flock through b");
    if let Some(mut b) = m.b_mount.take() {
        b.0.kill().expect("kill -9 the mount on b");
        let _ = b.0.wait();
    }
    let killed = Instant::now();
    // Still held: only the lease frees them.
    assert!(would_block(lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 0)));
    eventually(
        LEASE_AND_SLACK,
        "b's locks released after its lease",
        || lock(&fa, libc::F_SETLK, libc::F_WRLCK, 0, 0).ok(),
    );
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_secs(5),
        "released after {took:?}: before any lease"
    );
    flock(&fa_flock, libc::LOCK_EX | libc::LOCK_NB).expect("the flock went too");
    drop((fb, fb_flock));
}
