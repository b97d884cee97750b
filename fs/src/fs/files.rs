//! Open files and directories: create and open, reads and writes through
//! the shared [`OpenFile`], flush/fsync/release, and directory listings.

use super::*;

/// How long a file written in place stays closed before the mount hashes
/// it for its ETag.
const ETAG_AFTER: std::time::Duration = std::time::Duration::from_secs(2);
/// How many times the ETag is tried: long enough to outlast a new
/// leader's first lease (10 s), when the MDS keeps no hash.
const ETAG_TRIES: u32 = 8;

impl<B: Backend> Fs<B> {
    // --------------------------------------------------------------- files

    /// create (O_CREAT): makes the file (or, without O_EXCL, takes the one
    /// that appeared meanwhile) and opens it.
    pub async fn create(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
        flags: i32,
    ) -> Result<(Node, u64)> {
        self.refuse_virtual(parent)?;
        let exclusive = flags & libc::O_EXCL != 0;
        let mut node = self
            .make(parent, name, NodeKind::File, mode, uid, gid, b"", exclusive)
            .await?;
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => {
                return Err(ClusterError::IsDir(String::from_utf8_lossy(name).into()).into())
            }
            _ => return Err(ClusterError::Exists(String::from_utf8_lossy(name).into()).into()),
        }
        refuse_locked_write(&node, flags)?;
        if flags & libc::O_TRUNC != 0 && node.size > 0 {
            let attr = SetAttr {
                size: Some(0),
                ..SetAttr::default()
            };
            node = self
                .ask("truncate", self.backend.setattr(node.ino, attr))
                .await?;
            self.entries.put_node(&node);
        }
        let fh = self.open_node(node.clone(), flags);
        if node.size == 0 {
            self.handle(fh)?.file.open_window(&node.version_id);
        }
        Ok((self.local(node), fh))
    }

    pub(super) fn open_node(&self, node: Node, flags: i32) -> u64 {
        let file = self.retain(node);
        let fh = self.fh();
        let handle = Arc::new(Handle {
            file,
            append: flags & libc::O_APPEND != 0,
            flushed: AtomicBool::new(false),
            prefetch: AsyncMutex::new(Prefetcher::default()),
            lock_owners: Mutex::new(Vec::new()),
        });
        locked(&self.files).insert(fh, handle);
        fh
    }

    pub(super) fn open_file_handle(&self, fh: u64) -> Option<Arc<Handle<B>>> {
        locked(&self.files).get(&fh).cloned()
    }

    pub(crate) fn handle(&self, fh: u64) -> Result<Arc<Handle<B>>> {
        self.open_file_handle(fh).ok_or(Error::BadHandle(fh))
    }

    /// open: the node is fetched afresh (close-to-open consistency).
    /// `O_TRUNC` comes here (the mount asks the kernel for atomic
    /// truncating opens), so that in a versioned bucket the truncate and
    /// the writes after it make one version.
    pub async fn open(&self, ino: u64, flags: i32) -> Result<u64> {
        if let Some(opened) = self.open_virtual(ino, flags).await {
            return opened;
        }
        let mut node = self.ask("open", self.backend.getattr(ino)).await?;
        match node.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(ClusterError::IsDir(format!("inode {ino}")).into()),
            NodeKind::Symlink => {
                return Err(ClusterError::Invalid(format!("inode {ino} is a symlink")).into())
            }
            // The kernel opens FIFOs, sockets and devices itself.
            _ => return Err(ClusterError::Invalid(format!("inode {ino} has no content")).into()),
        }
        refuse_locked_write(&node, flags)?;
        if flags & libc::O_TRUNC != 0 && writes(flags) && node.size > 0 {
            let attr = SetAttr {
                size: Some(0),
                ..SetAttr::default()
            };
            node = self.setattr(ino, attr).await?;
        }
        let fh = self.open_node(node.clone(), flags);
        if node.size == 0 && writes(flags) {
            self.handle(fh)?.file.open_window(&node.version_id);
        }
        Ok(fh)
    }

    /// read: committed bytes (with read-ahead) under the file's own
    /// buffered writes; short only at the end of the file.
    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let started = Instant::now();
        let read = self.read_at(fh, offset, size).await;
        let bytes = read.as_ref().map_or(0, |b| b.len() as u64);
        self.opts
            .door
            .record(DoorOp::Read, bytes, started.elapsed(), read.is_ok());
        read
    }

    /// read from the kernel; `page_cache`: into its page cache (not
    /// O_DIRECT), where a file locked here keeps twins (see `twins`).
    pub async fn read_cached(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        page_cache: bool,
    ) -> Result<Vec<u8>> {
        let data = self.read(fh, offset, size).await?;
        if page_cache {
            let ino = self.handle(fh)?.file.ino;
            self.twins.served(ino, offset, size, &data);
        }
        Ok(data)
    }

    pub(super) async fn read_at(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let h = self.handle(fh)?;
        let view = h.file.view(offset, u64::from(size));
        let end = view.size.min(offset + u64::from(size));
        if end < offset + u64::from(size) {
            tracing::debug!(
                ino = h.file.ino,
                offset,
                size,
                local_size = view.size,
                "read past the end"
            );
        }
        if offset >= view.size {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        let committed_end = end.min(view.node.size);
        if offset < committed_end {
            let n = (committed_end - offset) as usize;
            h.prefetch
                .lock()
                .await
                .read_into(
                    &self.backend,
                    &view.node,
                    view.version,
                    offset,
                    &mut buf[..n],
                    self.timeout(),
                )
                .await?;
        }
        overlay(&mut buf, offset, &view.overlay);
        Ok(buf)
    }

    /// write: buffered; returns the bytes taken.
    pub async fn write(&self, fh: u64, offset: u64, data: Bytes) -> Result<u32> {
        let h = self.handle(fh)?;
        let at = if h.append { None } else { Some(offset) };
        let len = self.write_at(&h, at, data.clone()).await?;
        if at.is_some() {
            self.twins.written(h.file.ino, offset, &data);
        }
        Ok(len)
    }

    /// A page the kernel writes back from its cache (a shared mapping's
    /// stores): only the bytes that differ from the page's twin, when it
    /// has one (see `twins`), at its offset whatever O_APPEND says.
    pub async fn write_back(&self, fh: u64, offset: u64, data: Bytes) -> Result<u32> {
        let h = self.handle(fh)?;
        let len = u32::try_from(data.len())
            .map_err(|_| Error::TooBig(format!("a write of {} bytes", data.len())))?;
        match self.twins.changed(h.file.ino, offset, &data) {
            None => {
                self.write_at(&h, Some(offset), data.clone()).await?;
            }
            Some(runs) => {
                for run in runs {
                    let at = offset + run.start as u64;
                    self.write_at(&h, Some(at), data.slice(run)).await?;
                }
            }
        }
        self.twins.written(h.file.ino, offset, &data);
        Ok(len)
    }

    async fn write_at(&self, h: &Handle<B>, at: Option<u64>, data: Bytes) -> Result<u32> {
        let len = u32::try_from(data.len())
            .map_err(|_| Error::TooBig(format!("a write of {} bytes", data.len())))?;
        let started = Instant::now();
        let written = h.file.write(&self.backend, at, data).await;
        self.opts.door.record(
            DoorOp::Write,
            u64::from(len),
            started.elapsed(),
            written.is_ok(),
        );
        written?;
        self.max_write.fetch_max(u64::from(len), Ordering::Relaxed);
        Ok(len)
    }

    /// flush (each close): what is buffered goes to the chunk servers and
    /// is committed, without forcing it to disk.
    pub async fn flush(&self, fh: u64) -> Result<()> {
        let h = self.handle(fh)?;
        h.flushed.store(true, Ordering::Release);
        h.file.flush(&self.backend).await
    }

    /// fsync: on stable storage on every replica, and committed durably
    /// (with every namespace change this mount was answered before it).
    pub async fn fsync(&self, fh: u64) -> Result<()> {
        self.fsync_to(fh, Reach::All).await
    }

    /// fdatasync: the bytes on stable storage on every replica, with what
    /// reading them needs (the file's layout and size) durable; bytes
    /// written in place cost no commit (see `open_file`).
    pub async fn fdatasync(&self, fh: u64) -> Result<()> {
        self.fsync_to(fh, Reach::Data).await
    }

    /// What the kernel's FUSE_FSYNC asks: fdatasync with `datasync`.
    pub async fn fsync_or_fdatasync(&self, fh: u64, datasync: bool) -> Result<()> {
        match datasync {
            true => self.fdatasync(fh).await,
            false => self.fsync(fh).await,
        }
    }

    async fn fsync_to(&self, fh: u64, reach: Reach) -> Result<()> {
        let h = self.handle(fh)?;
        let started = Instant::now();
        let synced = async {
            let pending = h.file.fsync(&self.backend, reach).await?;
            if reach == Reach::All || pending.is_some() {
                self.sync_metadata().await?;
                if let Some(commits) = pending {
                    h.file.made_durable(commits);
                }
            }
            Ok(())
        }
        .await;
        self.opts
            .door
            .record(DoorOp::Fsync, 0, started.elapsed(), synced.is_ok());
        synced
    }

    /// fsyncdir: the mount's namespace changes so far are durable.
    pub async fn sync_metadata(&self) -> Result<()> {
        self.ask("fsync of metadata", self.backend.sync_metadata())
            .await
    }

    /// release (last close of a handle).
    /// release: the last close of an open file.
    pub async fn release(&self, fh: u64) -> Result<()> {
        self.release_flock(fh, None).await
    }

    /// release of an open file that took a `flock`, owned by `flock_owner`.
    pub async fn release_flock(&self, fh: u64, flock_owner: Option<u64>) -> Result<()> {
        let h = locked(&self.files)
            .remove(&fh)
            .ok_or(Error::BadHandle(fh))?;
        self.release_locks(&h, flock_owner).await;
        let dropped = self.drop_ref(&h.file).await;
        self.hash_when_quiet(&h.file);
        dropped
    }

    /// After the last close of a file written in place (its ETag stale),
    /// hashes it once it has been quiet for [`ETAG_AFTER`], so that S3
    /// finds its ETag ready.
    fn hash_when_quiet(&self, file: &OpenFile<B>) {
        let node = file.node();
        let still_open = locked(&self.open).contains_key(&node.ino);
        if still_open || !cairn_client::needs_etag(&node) {
            return;
        }
        let backend = self.backend.clone();
        tokio::spawn(async move {
            for _ in 0..ETAG_TRIES {
                tokio::time::sleep(ETAG_AFTER).await;
                // The MDS keeps a hash only of a file no mount holds the
                // lease of: the closed file's lease goes back first.
                backend.send_released().await;
                match backend.fill_etag(node.ino).await {
                    Ok(()) => return,
                    // Not kept (a lease held, a new leader): later.
                    Err(ClusterError::PreconditionFailed(_)) => {}
                    Err(e) => {
                        tracing::debug!(ino = node.ino, error = %e, "ETag not computed after the writes in place; S3 computes it when asked");
                        return;
                    }
                }
            }
        });
    }

    // --------------------------------------------------------- directories

    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        let listing = match self.listing_virtual(ino).await {
            Some(listing) => listing?,
            None => {
                let dir = self.ask("opendir", self.backend.getattr(ino)).await?;
                if dir.kind != NodeKind::Dir {
                    return Err(ClusterError::NotDir(format!("inode {ino}")).into());
                }
                Listing::new(dir)
            }
        };
        let fh = self.fh();
        locked(&self.dirs).insert(fh, Arc::new(AsyncMutex::new(listing)));
        Ok(fh)
    }

    /// Up to `max` entries from `offset` on (see `dir` for offsets).
    pub async fn readdir(&self, fh: u64, offset: u64, max: usize) -> Result<Vec<Entry>> {
        let listing = locked(&self.dirs)
            .get(&fh)
            .cloned()
            .ok_or(Error::BadHandle(fh))?;
        let mut l = listing.lock().await;
        let want = usize::try_from(offset.saturating_sub(2))
            .unwrap_or(usize::MAX)
            .saturating_add(max);
        while l.needs_page(want) {
            let ino = l.dir.ino;
            let cursor = l.cursor().to_vec();
            let (page, more) = self
                .ask("readdir", self.backend.readdir(ino, &cursor, PAGE))
                .await?;
            if is_top(ino) {
                for (name, node) in &page {
                    self.record_bucket(node.ino, name);
                }
            }
            l.add_page(page, more);
        }
        let mut entries = l.entries_from(offset, max);
        for e in &mut entries {
            if let Some(file) = self.open_file(e.node.ino) {
                file.apply(&mut e.node);
            }
        }
        Ok(entries)
    }

    pub fn releasedir(&self, fh: u64) -> Result<()> {
        locked(&self.dirs)
            .remove(&fh)
            .map(|_| ())
            .ok_or(Error::BadHandle(fh))
    }
}

/// Whether `flags` open for writing.
fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
}

/// A version under retention or legal hold cannot be written: its open
/// for writing fails at once (EPERM), not at the first commit.
fn refuse_locked_write(node: &Node, flags: i32) -> Result<()> {
    // Encrypted objects: SSE-C never opens, SSE-S3 only for reading.
    crate::sse::check_open(node, writes(flags))?;
    if writes(flags)
        && node
            .protection
            .locked_at(crate::attr::nanos(std::time::SystemTime::now()))
    {
        return Err(ClusterError::NotPermitted(format!(
            "inode {}: the object is under retention or legal hold",
            node.ino
        ))
        .into());
    }
    Ok(())
}
