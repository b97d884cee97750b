//! The fuser adapter: each kernel request is handed to the tokio runtime
//! and answered from there (fuser's reply objects are `Send`), so the FUSE
//! loop never waits on the network and many requests are in flight at
//! once. Nothing here decides anything: names become bytes, errors become
//! their errno, nodes become `FileAttr`s.

use std::{
    ffi::OsStr, future::Future, os::unix::ffi::OsStrExt, path::Path, sync::Arc, time::SystemTime,
};

use bytes::Bytes;
use cairn_client::SetAttr;
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLock, ReplyLseek,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::{
    attr::{file_attr, file_type, nanos, TTL},
    backend::Backend,
    error::{Error, Result},
    fs::{xattr_reply, Fs, XattrReply},
    unlinks::Pushed,
};

/// Largest write the kernel sends in one request.
pub const MAX_WRITE: u32 = 1 << 20;

/// Entries handed out per readdir call (the kernel's buffer decides how
/// many fit).
const READDIR_BATCH: usize = 512;

pub struct FuseAdapter<B: Backend> {
    fs: Arc<Fs<B>>,
    rt: Handle,
}

impl<B: Backend> FuseAdapter<B> {
    pub fn new(fs: Arc<Fs<B>>, rt: Handle) -> FuseAdapter<B> {
        FuseAdapter { fs, rt }
    }

    /// Runs `op` on the runtime and hands its outcome to `answer`.
    fn spawn<T, F, A>(&self, what: &'static str, op: impl FnOnce(Arc<Fs<B>>) -> F, answer: A)
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
        A: FnOnce(Result<T>) + Send + 'static,
    {
        let fut = op(self.fs.clone());
        self.rt.spawn(async move {
            let result = fut.await;
            if let Err(e) = &result {
                log_error(what, e);
            }
            answer(result);
        });
    }
}

fn log_error(what: &str, e: &Error) {
    match e.errno() {
        libc::ENOENT
        | libc::EEXIST
        | libc::ENODATA
        | libc::ENOTEMPTY
        | libc::ERANGE
        | libc::ENXIO
        | libc::EAGAIN
        | libc::EINTR
        | libc::EDEADLK => {
            tracing::debug!(op = what, error = %e)
        }
        libc::EIO => tracing::warn!(op = what, error = %e),
        _ => tracing::info!(op = what, error = %e),
    }
}

fn errno(e: &Error) -> Errno {
    Errno::from_i32(e.errno())
}

fn bytes(name: &OsStr) -> Vec<u8> {
    name.as_bytes().to_vec()
}

fn time_ns(t: TimeOrNow) -> i64 {
    match t {
        TimeOrNow::SpecificTime(t) => nanos(t),
        TimeOrNow::Now => nanos(SystemTime::now()),
    }
}

fn entry(reply: ReplyEntry, r: Result<cairn_client::Node>) {
    match r {
        Ok(node) => reply.entry(&TTL, &file_attr(&node), Generation(0)),
        Err(e) => reply.error(errno(&e)),
    }
}

fn empty(reply: ReplyEmpty, r: Result<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno(&e)),
    }
}

fn xattr(reply: ReplyXattr, r: Result<XattrReply>) {
    match r {
        Ok(XattrReply::Size(n)) => reply.size(n),
        Ok(XattrReply::Data(d)) => reply.data(&d),
        Err(e) => reply.error(errno(&e)),
    }
}

impl<B: Backend> Filesystem for FuseAdapter<B> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(nearest) = config.set_max_write(MAX_WRITE) {
            let _ = config.set_max_write(nearest);
        }
        if let Err(nearest) = config.set_max_readahead(u32::MAX) {
            let _ = config.set_max_readahead(nearest);
        }
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        // Truncating opens come as open(O_TRUNC), not setattr then open:
        // the door makes the truncate and the writes after it one version.
        let wanted = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_ATOMIC_O_TRUNC;
        if config.add_capabilities(wanted).is_err() {
            tracing::info!("the kernel does not offer readdirplus; plain readdir it is");
        }
        // Locks go to the cluster, seen by every mount: fcntl and OFD locks,
        // and flock (which the kernel then sends as whole-file locks).
        let locks = InitFlags::FUSE_POSIX_LOCKS | InitFlags::FUSE_FLOCK_LOCKS;
        if config.add_capabilities(locks).is_err() {
            tracing::warn!("the kernel does not offer remote locks: locks stay local to this host");
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fs.lookup_cached(parent.0, name.as_bytes()) {
            Some(Ok((node, ttl))) => {
                reply.entry(&ttl, &file_attr(&node), Generation(0));
                return;
            }
            Some(Err(e)) => {
                reply.error(errno(&e));
                return;
            }
            None => {}
        }
        let name = bytes(name);
        self.spawn(
            "lookup",
            |fs| async move { fs.lookup_entry(parent.0, &name).await },
            |r| match r {
                Ok((node, ttl)) => reply.entry(&ttl, &file_attr(&node), Generation(0)),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if let Some((node, ttl)) = self.fs.getattr_cached(ino.0) {
            reply.attr(&ttl, &file_attr(&node));
            return;
        }
        self.spawn(
            "getattr",
            |fs| async move { fs.getattr_entry(ino.0).await },
            |r| match r {
                Ok((node, ttl)) => reply.attr(&ttl, &file_attr(&node)),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let attr = SetAttr {
            mode: mode.map(|m| m & 0o7777),
            uid,
            gid,
            size,
            atime_ns: atime.map(time_ns),
            mtime_ns: mtime.map(time_ns),
            ..SetAttr::default()
        };
        self.spawn(
            "setattr",
            |fs| async move { fs.setattr(ino.0, attr).await },
            |r| match r {
                Ok(node) => reply.attr(&TTL, &file_attr(&node)),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(
            "readlink",
            |fs| async move { fs.readlink(ino.0).await },
            |r| match r {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (name, uid, gid) = (bytes(name), req.uid(), req.gid());
        self.spawn(
            "mknod",
            |fs| async move {
                fs.mknod(parent.0, &name, mode, u64::from(rdev), uid, gid)
                    .await
            },
            |r| entry(reply, r),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let (name, uid, gid) = (bytes(name), req.uid(), req.gid());
        self.spawn(
            "mkdir",
            |fs| async move { fs.mkdir(parent.0, &name, mode, uid, gid).await },
            |r| entry(reply, r),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.fs.unlink_cached(parent.0, name.as_bytes()) {
            Pushed::Refused => {}
            Pushed::Queued => return reply.ok(),
            Pushed::StartSender => {
                self.rt.spawn(self.fs.unlink_sender());
                return reply.ok();
            }
        }
        let name = bytes(name);
        self.spawn(
            "unlink",
            |fs| async move { fs.unlink(parent.0, &name).await },
            |r| empty(reply, r),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = bytes(name);
        self.spawn(
            "rmdir",
            |fs| async move { fs.rmdir(parent.0, &name).await },
            |r| empty(reply, r),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, uid, gid) = (bytes(link_name), req.uid(), req.gid());
        let target = target.as_os_str().as_bytes().to_vec();
        self.spawn(
            "symlink",
            |fs| async move { fs.symlink(parent.0, &name, &target, uid, gid).await },
            |r| entry(reply, r),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (name, newname) = (bytes(name), bytes(newname));
        self.spawn(
            "rename",
            |fs| async move {
                fs.rename(parent.0, &name, newparent.0, &newname, no_replace)
                    .await
            },
            |r| empty(reply, r),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let newname = bytes(newname);
        self.spawn(
            "link",
            |fs| async move { fs.link(ino.0, newparent.0, &newname).await },
            |r| entry(reply, r),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(
            "open",
            |fs| async move { fs.open(ino.0, flags.0).await },
            |r| match r {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let page_cache = flags.0 & libc::O_DIRECT == 0;
        self.spawn(
            "read",
            |fs| async move { fs.read_cached(fh.0, offset, size, page_cache).await },
            |r| match r {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let data = Bytes::copy_from_slice(data);
        // From the page cache: a mapping's stores written back.
        let back = write_flags.contains(WriteFlags::FUSE_WRITE_CACHE);
        self.spawn(
            "write",
            |fs| async move {
                match back {
                    true => fs.write_back(fh.0, offset, data).await,
                    false => fs.write(fh.0, offset, data).await,
                }
            },
            |r| match r {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            "flush",
            |fs| async move {
                let flushed = fs.flush(fh.0).await;
                // POSIX: any close drops the process's locks on the file.
                let unlocked = fs.flush_locks(ino.0, lock_owner.0).await;
                flushed.and(unlocked)
            },
            |r| empty(reply, r),
        );
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            "release",
            |fs| async move { fs.release_flock(fh.0, lock_owner.map(|o| o.0)).await },
            |r| empty(reply, r),
        );
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        if flags.bits() != 0 {
            reply.error(Errno::EINVAL);
            return;
        }
        // One answer counts at most u32::MAX bytes; the caller asks again
        // for the rest, as after any short copy.
        let len = len.min(u64::from(u32::MAX) & !0xfff);
        self.spawn(
            "copy_file_range",
            move |fs| async move {
                fs.copy_file_range(fh_in.0, offset_in, fh_out.0, offset_out, len)
                    .await
            },
            |r| match r {
                Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn getlk(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        reply: ReplyLock,
    ) {
        self.spawn(
            "getlk",
            move |fs| async move { fs.getlk(ino.0, lock_owner.0, start, end, typ, pid).await },
            move |r| match r {
                Ok(Some(held)) => reply.locked(held.start, held.end, held.typ, held.pid),
                // Nothing in the way: the request comes back as F_UNLCK.
                Ok(None) => reply.locked(start, end, libc::F_UNLCK, 0),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn setlk(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        // The calling thread, whose signals end a wait (`pid` is its
        // process, the lock's holder).
        let caller = req.pid();
        self.spawn(
            "setlk",
            move |fs| async move {
                let lock = crate::fs::LockCall {
                    ino: ino.0,
                    fh: fh.0,
                    owner: lock_owner.0,
                    start,
                    end,
                    typ,
                    pid,
                    caller,
                };
                fs.setlk(lock, sleep).await
            },
            |r| empty(reply, r),
        );
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            "fsync",
            move |fs| async move { fs.fsync_or_fdatasync(fh.0, datasync).await },
            |r| empty(reply, r),
        );
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(
            "opendir",
            |fs| async move { fs.opendir(ino.0).await },
            |r| match r {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.spawn(
            "readdir",
            |fs| async move { fs.readdir(fh.0, offset, READDIR_BATCH).await },
            move |r| match r {
                Ok(entries) => {
                    for e in entries {
                        let kind = file_type(e.node.kind);
                        if reply.add(
                            INodeNo(e.node.ino),
                            e.next,
                            kind,
                            OsStr::from_bytes(&e.name),
                        ) {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.spawn(
            "readdirplus",
            |fs| async move { fs.readdir(fh.0, offset, READDIR_BATCH).await },
            move |r| match r {
                Ok(entries) => {
                    for e in entries {
                        let attr = file_attr(&e.node);
                        let full = reply.add(
                            INodeNo(e.node.ino),
                            e.next,
                            OsStr::from_bytes(&e.name),
                            &TTL,
                            &attr,
                            Generation(0),
                        );
                        if full {
                            break;
                        }
                    }
                    reply.ok();
                }
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.fs.releasedir(fh.0));
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Namespace changes are answered once on the MDS's OS; this makes
        // them durable.
        self.spawn(
            "fsyncdir",
            |fs| async move { fs.sync_metadata().await },
            |r| empty(reply, r),
        );
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spawn(
            "statfs",
            |fs| async move { fs.statfs().await },
            |r| match r {
                Ok(s) => reply.statfs(
                    s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
                ),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let name = name.to_string_lossy().into_owned();
        let value = value.to_vec();
        self.spawn(
            "setxattr",
            |fs| async move { fs.setxattr(ino.0, &name, &value, flags).await },
            |r| empty(reply, r),
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = name.to_string_lossy().into_owned();
        if let Some(refused) = self.fs.getxattr_outside_user(&name) {
            reply.error(errno(&refused));
            return;
        }
        self.spawn(
            "getxattr",
            |fs| async move { xattr_reply(fs.getxattr(ino.0, &name).await?, size) },
            |r| xattr(reply, r),
        );
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.spawn(
            "listxattr",
            |fs| async move { xattr_reply(fs.listxattr(ino.0).await?, size) },
            |r| xattr(reply, r),
        );
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_string_lossy().into_owned();
        self.spawn(
            "removexattr",
            |fs| async move { fs.removexattr(ino.0, &name).await },
            |r| empty(reply, r),
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks modes itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (name, uid, gid) = (bytes(name), req.uid(), req.gid());
        self.spawn(
            "create",
            |fs| async move { fs.create(parent.0, &name, mode, uid, gid, flags).await },
            |r| match r {
                Ok((node, fh)) => reply.created(
                    &TTL,
                    &file_attr(&node),
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::empty(),
                ),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.spawn(
            "fallocate",
            |fs| async move { fs.fallocate(fh.0, offset, length, mode).await },
            |r| empty(reply, r),
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        self.spawn(
            "lseek",
            |fs| async move { fs.lseek(fh.0, offset, whence).await },
            |r| match r {
                Ok(at) => reply.offset(at),
                Err(e) => reply.error(errno(&e)),
            },
        );
    }
}
