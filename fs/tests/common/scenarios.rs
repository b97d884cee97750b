//! POSIX scenarios through a real mount. `root` is the mount point; each
//! scenario works in a bucket of its own.

use std::{
    ffi::CString,
    fs::{self, File, OpenOptions},
    io::{ErrorKind, Read, Seek, SeekFrom, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{FileExt, MetadataExt, PermissionsExt},
        process::CommandExt,
    },
    path::Path,
    process::Command,
};

pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

pub fn bucket(root: &Path, name: &str) -> std::path::PathBuf {
    let b = root.join(name);
    fs::create_dir(&b).unwrap_or_else(|e| panic!("mkdir bucket {name}: {e}"));
    assert!(fs::metadata(&b).unwrap().is_dir());
    b
}

/// Large sequential writes and reads across chunk boundaries.
pub fn sequential(root: &Path) {
    let b = bucket(root, "seq");
    let data = pattern(1, (3 << 20) + 17);
    let path = b.join("big");
    let mut f = File::create(&path).unwrap();
    for piece in data.chunks(1 << 20) {
        f.write_all(piece).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    assert_eq!(fs::metadata(&path).unwrap().len(), data.len() as u64);
    let mut back = Vec::new();
    File::open(&path).unwrap().read_to_end(&mut back).unwrap();
    assert!(back == data, "content read back differs");
    // Random reads at odd offsets.
    let f = File::open(&path).unwrap();
    for (off, len) in [
        (0u64, 10usize),
        ((1 << 20) - 5, 10),
        (3 << 20, 17),
        (12345, 70000),
    ] {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, off).unwrap();
        assert_eq!(
            buf,
            &data[off as usize..off as usize + len],
            "read at {off}"
        );
    }
    drop(f);
    fs::remove_file(&path).unwrap();
    let left: Vec<_> = fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left: {left:?}");
    fs::remove_dir(&b).unwrap();
}

/// Sparse files, writes past the end, overwrites across chunk boundaries,
/// truncate down and up, O_APPEND, O_TRUNC, O_EXCL.
pub fn sparse_truncate_flags(root: &Path) {
    let b = bucket(root, "sparse");
    let path = b.join("s");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all_at(b"tail", 5 << 20).unwrap();
    let mut model = vec![0u8; 5 << 20];
    model.extend_from_slice(b"tail");
    let mid = pattern(2, 300_000);
    let at = (1 << 20) - 100_000;
    f.write_all_at(&mid, at as u64).unwrap();
    model[at..at + mid.len()].copy_from_slice(&mid);
    let mut buf = vec![0u8; model.len()];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf == model, "sparse content differs");
    f.set_len(1 << 20).unwrap();
    model.truncate(1 << 20);
    f.set_len(2 << 20).unwrap();
    model.resize(2 << 20, 0);
    drop(f);
    let back = fs::read(&path).unwrap();
    assert!(back == model, "content after truncates differs");

    let mut a = OpenOptions::new().append(true).open(&path).unwrap();
    a.write_all(b"appended").unwrap();
    drop(a);
    model.extend_from_slice(b"appended");
    assert!(fs::read(&path).unwrap() == model);

    let mut t = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    t.write_all(b"short").unwrap();
    drop(t);
    assert_eq!(fs::read(&path).unwrap(), b"short");

    let e = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    let mut n = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(b.join("new"))
        .unwrap();
    n.write_all(b"x").unwrap();
    let mut f = File::open(&path).unwrap();
    f.seek(SeekFrom::Start(2)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "ort");
    drop((n, f));
    fs::remove_file(b.join("new")).unwrap();
    fs::remove_file(&path).unwrap();
    fs::remove_dir(&b).unwrap();
}

/// Directories, renames (replace, across directories, EXDEV across
/// buckets), hard links, symlinks, listings, ENOTEMPTY.
pub fn namespace(root: &Path) {
    let b = bucket(root, "names");
    let other = bucket(root, "names-other");
    fs::create_dir_all(b.join("d1/d2")).unwrap();
    fs::write(b.join("d1/d2/f"), b"one").unwrap();
    let e = fs::remove_dir(b.join("d1")).unwrap_err();
    assert_eq!(errno(&e), libc::ENOTEMPTY);
    let e = fs::remove_dir(&b).unwrap_err();
    assert_eq!(errno(&e), libc::ENOTEMPTY, "a non-empty bucket stays");

    fs::write(b.join("g"), b"two").unwrap();
    fs::rename(b.join("g"), b.join("d1/d2/f")).unwrap();
    assert_eq!(fs::read(b.join("d1/d2/f")).unwrap(), b"two");
    assert!(!b.join("g").exists());
    fs::rename(b.join("d1/d2"), b.join("moved")).unwrap();
    assert_eq!(fs::read(b.join("moved/f")).unwrap(), b"two");
    let e = fs::rename(b.join("moved/f"), other.join("f")).unwrap_err();
    assert_eq!(errno(&e), libc::EXDEV);

    fs::hard_link(b.join("moved/f"), b.join("hl")).unwrap();
    assert_eq!(fs::metadata(b.join("hl")).unwrap().nlink(), 2);
    assert_eq!(
        fs::metadata(b.join("hl")).unwrap().ino(),
        fs::metadata(b.join("moved/f")).unwrap().ino()
    );
    fs::write(b.join("hl"), b"through the link").unwrap();
    assert_eq!(fs::read(b.join("moved/f")).unwrap(), b"through the link");
    fs::remove_file(b.join("moved/f")).unwrap();
    assert_eq!(fs::metadata(b.join("hl")).unwrap().nlink(), 1);

    std::os::unix::fs::symlink("hl", b.join("sl")).unwrap();
    assert_eq!(fs::read_link(b.join("sl")).unwrap(), Path::new("hl"));
    assert!(fs::symlink_metadata(b.join("sl"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(b.join("sl")).unwrap(), b"through the link");

    let mut names: Vec<String> = fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["d1", "hl", "moved", "sl"]);

    let e = File::create(root.join("top-file")).unwrap_err();
    assert_eq!(errno(&e), libc::EPERM, "files cannot live at the top level");
    fs::remove_dir_all(&b).unwrap();
    fs::remove_dir(&other).unwrap();
    assert!(!b.exists());
}

/// An open file stays readable and writable after unlink, until closed.
pub fn unlink_open(root: &Path) {
    let b = bucket(root, "unlinked");
    let path = b.join("f");
    fs::write(&path, pattern(3, 100_000)).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    fs::remove_file(&path).unwrap();
    assert_eq!(errno(&fs::metadata(&path).unwrap_err()), libc::ENOENT);
    assert_eq!(fs::read_dir(&b).unwrap().count(), 0, "the name is gone");
    let mut buf = vec![0u8; 100_000];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf == pattern(3, 100_000));
    f.write_all_at(b"still here", 50).unwrap();
    f.read_exact_at(&mut buf[..10], 50).unwrap();
    assert_eq!(&buf[..10], b"still here");
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    drop(f);
    fs::remove_dir(&b).unwrap();
}

/// user.* extended attributes.
pub fn xattrs(root: &Path) {
    let b = bucket(root, "xattrs");
    let path = b.join("f");
    fs::write(&path, b"x").unwrap();
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new("user.color").unwrap();
    // SAFETY: valid NUL-terminated strings and buffers of the given sizes.
    unsafe {
        assert_eq!(
            libc::setxattr(c.as_ptr(), name.as_ptr(), b"blue".as_ptr().cast(), 4, 0),
            0,
            "setxattr: {}",
            std::io::Error::last_os_error()
        );
        let mut buf = [0u8; 64];
        let n = libc::getxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        );
        assert_eq!(n, 4);
        assert_eq!(&buf[..4], b"blue");
        let n = libc::listxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len());
        assert!(n > 0);
        assert!(buf[..n as usize]
            .split(|&x| x == 0)
            .any(|s| s == b"user.color"));
        let n = libc::getxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), 2);
        assert_eq!(n, -1);
        assert_eq!(errno(&std::io::Error::last_os_error()), libc::ERANGE);
        assert_eq!(libc::removexattr(c.as_ptr(), name.as_ptr()), 0);
        let n = libc::getxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        );
        assert_eq!(n, -1);
        assert_eq!(errno(&std::io::Error::last_os_error()), libc::ENODATA);
    }
    fs::remove_file(&path).unwrap();
    fs::remove_dir(&b).unwrap();
}

fn as_nobody(program: &str, args: &[&Path]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// default_permissions: a non-root user is refused where modes say so.
pub fn permissions(root: &Path) {
    let b = bucket(root, "perms");
    fs::set_permissions(&b, fs::Permissions::from_mode(0o755)).unwrap();
    let secret = b.join("secret");
    fs::write(&secret, b"root only").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(fs::metadata(&secret).unwrap().mode() & 0o777, 0o600);
    let public = b.join("public");
    fs::write(&public, b"everyone").unwrap();
    fs::set_permissions(&public, fs::Permissions::from_mode(0o644)).unwrap();

    let out = as_nobody("cat", &[&secret]);
    assert!(!out.status.success(), "nobody read a 0600 root file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    let out = as_nobody("cat", &[&public]);
    assert!(
        out.status.success(),
        "nobody could not read a 0644 file: {out:?}"
    );
    assert_eq!(out.stdout, b"everyone");
    let out = as_nobody("touch", &[&b.join("new")]);
    assert!(
        !out.status.success(),
        "nobody created a file in a 0755 root dir"
    );
    assert!(!b.join("new").exists());
    let out = as_nobody("rm", &[&public]);
    assert!(
        !out.status.success(),
        "nobody removed a file in a 0755 root dir"
    );

    // chown to nobody, then nobody may write.
    std::os::unix::fs::chown(&public, Some(65534), Some(65534)).unwrap();
    assert_eq!(fs::metadata(&public).unwrap().uid(), 65534);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("echo mine > '{}'", public.display()))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(out.status.success(), "owner could not write: {out:?}");
    assert_eq!(fs::read(&public).unwrap(), b"mine\n");
    fs::remove_dir_all(&b).unwrap();
}

/// statfs gives the cluster's capacity.
pub fn statfs(root: &Path) {
    let c = CString::new(root.as_os_str().as_bytes()).unwrap();
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
    assert!(st.f_blocks > 0, "no capacity reported");
    assert!(st.f_bfree <= st.f_blocks);
    assert_eq!(st.f_namemax, 255);
}

/// utimens sticks, including when set on an open file after writing.
pub fn times(root: &Path) {
    let b = bucket(root, "times");
    let path = b.join("f");
    let f = File::create(&path).unwrap();
    (&f).write_all(b"data").unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    f.set_modified(t).unwrap();
    drop(f);
    let m = fs::metadata(&path).unwrap();
    assert_eq!(m.mtime(), 1_000_000_000);
    assert_eq!(m.len(), 4);
    fs::remove_file(&path).unwrap();
    fs::remove_dir(&b).unwrap();
}

/// The largest `.crate` source tarball of the local cargo registry, if any.
pub fn some_crate_tarball() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    for index in fs::read_dir(home.join("registry/cache")).ok()? {
        let Ok(index) = index else { continue };
        let Ok(files) = fs::read_dir(index.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            // Big enough to matter, small enough for a test.
            if p.extension().is_some_and(|e| e == "crate")
                && size < (8 << 20)
                && best.as_ref().is_none_or(|(s, _)| size > *s)
            {
                best = Some((size, p));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Unpacks a source tarball into the mount and onto the local disk,
/// compares them with `diff -r`, then removes it all.
pub fn tarball(root: &Path) {
    let Some(tarball) = some_crate_tarball() else {
        panic!("no .crate tarball in the local cargo registry");
    };
    let b = bucket(root, "tarball");
    let local = tempfile::tempdir().unwrap();
    for dest in [b.as_path(), local.path()] {
        let out = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(dest)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar into {}: {out:?}", dest.display());
    }
    let out = Command::new("diff")
        .arg("-r")
        .arg(&b)
        .arg(local.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "diff -r of {} differs: {}",
        tarball.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    let files = Command::new("find")
        .arg(&b)
        .arg("-type")
        .arg("f")
        .output()
        .unwrap();
    let count = String::from_utf8_lossy(&files.stdout).lines().count();
    assert!(count > 5, "only {count} files unpacked");
    fs::remove_dir_all(&b).unwrap();
    assert!(!b.exists());
}
