//! Changes to the namespace: make, link, rename, unlink and rmdir, with
//! the top-level rule (buckets only) and the life of unlinked files that
//! are still open (hidden until their last close; unlinks queued and sent
//! in batches).

use super::*;

impl<B: Backend> Fs<B> {
    /// mkdir; at the top level, a new bucket owned by the mount's key.
    pub async fn mkdir(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        check_new_name(name)?;
        self.refuse_virtual(parent)?;
        if is_top(parent) {
            let bucket = bucket_name(name)?;
            self.ask(
                "create bucket",
                self.backend.create_bucket(bucket, &self.opts.owner),
            )
            .await?;
            let node = self
                .ask("lookup", self.backend.lookup(parent, name))
                .await?;
            let attr = SetAttr {
                mode: Some(mode & 0o7777),
                uid: Some(uid),
                gid: Some(gid),
                ..SetAttr::default()
            };
            return self
                .ask("setattr", self.backend.setattr(node.ino, attr))
                .await;
        }
        self.make(parent, name, NodeKind::Dir, mode, uid, gid, b"", true)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn make(
        &self,
        parent: u64,
        name: &[u8],
        kind: NodeKind,
        mode: u32,
        uid: u32,
        gid: u32,
        target: &[u8],
        exclusive: bool,
    ) -> Result<Node> {
        let new = NewNode {
            parent,
            name,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            target,
            exclusive,
            rdev: 0,
        };
        self.make_node(new).await
    }

    /// Makes `new` (not at the top level) and notes it in the entry cache.
    pub(super) async fn make_node(&self, new: NewNode<'_>) -> Result<Node> {
        let (parent, name) = (new.parent, new.name);
        check_new_name(name)?;
        if is_top(parent) {
            return Err(top_level_refused("create"));
        }
        // A refusal (EEXIST) says the cache's page may be wrong about the
        // name: one made through S3 since the page was fetched.
        let node = self
            .ask("create", self.backend.create(new))
            .await
            .inspect_err(|_| self.entries.forget_name(parent, name))?;
        self.entries.added(parent, name, &node);
        Ok(node)
    }

    pub async fn symlink(
        &self,
        parent: u64,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<Node> {
        self.refuse_virtual(parent)?;
        if target.is_empty() || target.len() > 4095 {
            return Err(
                ClusterError::Invalid("symlink target must be 1 to 4095 bytes".into()).into(),
            );
        }
        self.make(
            parent,
            name,
            NodeKind::Symlink,
            0o777,
            uid,
            gid,
            target,
            true,
        )
        .await
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        self.ask("readlink", self.backend.readlink(ino)).await
    }

    /// unlink; a file open here lives on under a hidden name until its
    /// last close.
    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<()> {
        self.refuse_virtual(parent)?;
        if self.queue_unlink(parent, name) {
            return Ok(());
        }
        // No fresh page holds the name: one listing call fetches the page
        // for this name and the few hundred after it (`rm -r`, a cleaning
        // loop), then the cache can tell.
        if self.entries.enabled()
            && !is_top(parent)
            && matches!(self.cached_entry(parent, name), Cached::Unknown)
        {
            let _ = self.prefetch(parent, name).await;
            if self.queue_unlink(parent, name) {
                return Ok(());
            }
        }
        if self.any_open() {
            if let Ok(node) = self.backend_lookup(parent, name).await {
                if node.kind == NodeKind::File && node.nlink <= 1 && self.in_use(node.ino).await {
                    if let Some(file) = self.retain_open(node.ino) {
                        let hidden = unlinked_name(node.ino);
                        let moved = self
                            .ask(
                                "rename",
                                self.backend.rename(parent, name, parent, &hidden, true),
                            )
                            .await;
                        self.name_changed(parent, name, moved.is_ok(), false);
                        self.entries.forget_name(parent, &hidden);
                        if moved.is_ok() {
                            file.set_unlinked(parent, hidden);
                        }
                        let released = self.drop_ref(&file).await;
                        moved?;
                        return released;
                    }
                }
            }
        }
        let unlinked = self.ask("unlink", self.backend.unlink(parent, name)).await;
        self.name_changed(parent, name, unlinked.is_ok(), false);
        unlinked
    }

    /// Queues an unlink for the MDS when the entry cache proves it will
    /// succeed: a fresh page holds the name, it names a file or symlink,
    /// and no handle here holds that open. `Refused`: it was not queued
    /// (take [`Fs::unlink`]); `StartSender`: the caller spawns
    /// [`Fs::unlink_sender`]. Never waits: the FUSE adapter answers these on
    /// its own thread.
    pub fn unlink_cached(&self, parent: u64, name: &[u8]) -> Pushed {
        if is_top(parent) || name.len() > NAME_MAX {
            return Pushed::Refused;
        }
        let Some(Hit::Found(node, _)) = self.entries.lookup(parent, name) else {
            return Pushed::Refused;
        };
        // A locked version answers EPERM: only the MDS can say so.
        let now = crate::attr::nanos(std::time::SystemTime::now());
        if node.kind == NodeKind::Dir
            || self.open_file(node.ino).is_some()
            || node.protection.locked_at(now)
        {
            return Pushed::Refused;
        }
        let pushed = self.unlinks.push(NamedInode {
            parent,
            name: name.to_vec(),
            ino: node.ino,
        });
        if pushed != Pushed::Refused {
            self.entries.removed(parent, name, false);
        }
        pushed
    }

    /// The task that sends the queued unlinks (see [`Fs::unlink_cached`]).
    pub fn unlink_sender(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        send_unlinks(
            self.backend.clone(),
            self.unlinks.clone(),
            self.entries.clone(),
            self.timeout(),
        )
    }

    /// [`Fs::unlink_cached`], starting the sender on this runtime.
    pub(super) fn queue_unlink(&self, parent: u64, name: &[u8]) -> bool {
        match self.unlink_cached(parent, name) {
            Pushed::Refused => false,
            Pushed::Queued => true,
            Pushed::StartSender => {
                tokio::spawn(self.unlink_sender());
                true
            }
        }
    }

    /// After a call that removes `name` (a directory with `dir`) from
    /// `parent`: gone from the entry cache if it succeeded; else what the
    /// cache knew of it is dropped.
    pub(super) fn name_changed(&self, parent: u64, name: &[u8], gone: bool, dir: bool) {
        if gone {
            self.entries.removed(parent, name, dir);
        } else {
            self.entries.forget_name(parent, name);
        }
    }

    pub(super) async fn backend_lookup(&self, parent: u64, name: &[u8]) -> Result<Node> {
        self.ask("lookup", self.backend.lookup(parent, name)).await
    }

    /// rmdir; at the top level, deletes the (empty) bucket.
    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<()> {
        self.refuse_virtual(parent)?;
        self.settle_unlinked_in(parent, name).await;
        if is_top(parent) {
            let bucket = bucket_name(name).map_err(|_| {
                Error::from(ClusterError::NotFound(
                    String::from_utf8_lossy(name).into_owned(),
                ))
            })?;
            return self
                .ask("delete bucket", self.backend.delete_bucket(bucket))
                .await;
        }
        let removed = self.ask("rmdir", self.backend.rmdir(parent, name)).await;
        self.name_changed(parent, name, removed.is_ok(), true);
        removed
    }

    /// Before an rmdir: files unlinked while open live on under hidden
    /// names in the directory until their release, which the kernel sends
    /// after close() returns. Waits (up to `RELEASE_GRACE`) for those whose
    /// handles are all closed, so that `close; unlink; rmdir` works.
    pub(super) async fn settle_unlinked_in(&self, parent: u64, name: &[u8]) {
        let hidden: Vec<(u64, u64)> = locked(&self.open)
            .values()
            .filter_map(|e| e.file.unlinked().map(|(dir, _)| (dir, e.file.ino)))
            .collect();
        if hidden.is_empty() {
            return;
        }
        let Ok(dir) = self.backend_lookup(parent, name).await else {
            return;
        };
        for (_, ino) in hidden.into_iter().filter(|(d, _)| *d == dir.ino) {
            if self.in_use(ino).await {
                continue;
            }
            // Released: its last reference removes the hidden name; wait
            // for that to finish.
            let deadline = tokio::time::Instant::now() + RELEASE_GRACE;
            loop {
                let released = self.released.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                if self.open_file(ino).is_none_or(|f| f.unlinked().is_none()) {
                    break;
                }
                if tokio::time::timeout_at(deadline, released).await.is_err() {
                    break;
                }
            }
        }
    }

    /// rename, replacing the target unless `no_replace`. Across buckets,
    /// and of buckets themselves, EXDEV (so `mv` copies).
    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<()> {
        check_new_name(new_name)?;
        self.refuse_virtual(parent)?;
        self.refuse_virtual(new_parent)?;
        if is_top(parent) || is_top(new_parent) {
            return Err(ClusterError::CrossDevice(
                "buckets cannot be renamed and files cannot move to the top level".into(),
            )
            .into());
        }
        // A target open here keeps its content under a hidden name.
        let mut kept: Option<Arc<OpenFile<B>>> = None;
        if !no_replace && self.any_open() {
            if let Ok(target) = self.backend_lookup(new_parent, new_name).await {
                if target.kind == NodeKind::File
                    && target.nlink <= 1
                    && self.in_use(target.ino).await
                {
                    if let Some(file) = self.retain_open(target.ino) {
                        let hidden = unlinked_name(target.ino);
                        let linked = self
                            .ask("link", self.backend.link(target.ino, new_parent, &hidden))
                            .await;
                        self.entries.forget_node(target.ino);
                        match linked {
                            Ok(_) => {
                                file.set_unlinked(new_parent, hidden);
                                kept = Some(file);
                            }
                            Err(e) => {
                                self.drop_ref(&file).await?;
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
        let result = self
            .ask(
                "rename",
                self.backend
                    .rename(parent, name, new_parent, new_name, no_replace),
            )
            .await;
        self.entries.forget_name(parent, name);
        self.entries.forget_name(new_parent, new_name);
        if let Some(file) = kept {
            self.drop_ref(&file).await?;
        }
        result
    }

    pub async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node> {
        check_new_name(new_name)?;
        self.refuse_virtual(ino)?;
        self.refuse_virtual(new_parent)?;
        if is_top(new_parent) {
            return Err(top_level_refused("link"));
        }
        let node = self
            .ask("link", self.backend.link(ino, new_parent, new_name))
            .await
            .inspect_err(|_| {
                self.entries.forget_node(ino);
                self.entries.forget_name(new_parent, new_name);
            })?;
        self.entries.added(new_parent, new_name, &node);
        Ok(self.local(node))
    }
}
