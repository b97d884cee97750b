//! Coherence between the mounts of many hosts: what another mount changes
//! reaches this one's caches, and the write lease goes back when another
//! mount wants to write (see `file_watch` in the MDS and the client).
//!
//! * A file another mount changed (its commit: close, fsync, a full batch,
//!   a truncate, a hole, a clone into it) is dropped from the kernel's page
//!   cache and attributes (`invalidate`: a FUSE notify), from the entry
//!   cache, and, when open here, takes the new committed node, so its
//!   read-ahead of the old content is never used again. So a reader here
//!   sees another host's writes no later than that host's fsync or close
//!   (plus one watch round trip).
//! * Byte-range locks make the same promise as on NFS, for the whole mount
//!   (`barriers`): taking a lock catches up with the feed and reads the
//!   file's node again, and dropping a lock first sends what was buffered
//!   for every open file (so a reader under a lock never sees bytes older
//!   than the writer's unlock).
//! * When another mount asks for the write lease of a file open here, what
//!   this mount buffered for it is sent and committed, then the lease goes
//!   back; writes after that take it again.

use super::{barriers::Applying, *};
use cairn_client::FileEvent;

impl<B: Backend> Fs<B> {
    /// Follows what other mounts change, until the backend's watch ends;
    /// `invalidate(ino)` drops the kernel's cache of a file.
    pub fn follow_changes(self: &Arc<Self>, invalidate: impl Fn(u64) + Send + Sync + 'static) {
        let invalidate: Invalidate = Arc::new(invalidate);
        let _ = self.invalidate.set(invalidate.clone());
        let Some(mut events) = self.backend.watch_files() else {
            return;
        };
        let fs = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Some(fs) = fs.upgrade() else {
                    return;
                };
                match event {
                    FileEvent::Changed(ino) => {
                        let applying = fs.feed.applying().await;
                        fs.changed_elsewhere(ino, &invalidate, applying);
                    }
                    FileEvent::AllChanged => {
                        let applying = fs.feed.applying().await;
                        let open: Vec<u64> = locked(&fs.open).keys().copied().collect();
                        for ino in open {
                            fs.changed_elsewhere(ino, &invalidate, applying.clone());
                        }
                    }
                    FileEvent::GiveBack(ino) => {
                        let fs = fs.clone();
                        tokio::spawn(async move { fs.give_back(ino).await });
                    }
                }
                fs.feed.took_one();
            }
        });
    }

    /// `applying` is held until the kernel's cache is dropped (a lock's
    /// barrier waits for it).
    fn changed_elsewhere(self: &Arc<Self>, ino: u64, invalidate: &Invalidate, applying: Applying) {
        self.entries.forget_node(ino);
        let invalidate = invalidate.clone();
        let fs = self.clone();
        let Some(file) = self.open_file(ino) else {
            // The kernel may still cache pages of a closed file; they go.
            tokio::spawn(async move {
                fs.backend.changed_elsewhere(ino).await;
                let _ = tokio::task::spawn_blocking(move || invalidate(ino)).await;
                drop(applying);
            });
            return;
        };
        tokio::spawn(async move {
            fs.backend.changed_elsewhere(ino).await;
            match fs.ask("getattr", fs.backend.getattr(ino)).await {
                Ok(node) => {
                    tracing::debug!(
                        ino,
                        size = node.size,
                        ctime = node.ctime_ns,
                        "changed elsewhere"
                    );
                    file.moved_on(node)
                }
                Err(e) => {
                    tracing::debug!(ino, error = %e, "a file changed elsewhere was not read again; the next open does")
                }
            }
            // After the new node is in place: a read the kernel sends now
            // gets the new content.
            let _ = tokio::task::spawn_blocking(move || invalidate(ino)).await;
            drop(applying);
        });
    }

    /// A lock was just taken on open file `file`: when another mount
    /// changed the file meanwhile, its new node replaces the old one and
    /// the kernel's cache of it goes.
    pub(super) async fn revalidate(&self, file: &OpenFile<B>) -> Result<()> {
        let node = self.ask("getattr", self.backend.getattr(file.ino)).await?;
        if node.ctime_ns == file.committed_ctime() {
            return Ok(());
        }
        file.moved_on(node);
        self.backend.changed_elsewhere(file.ino).await;
        if let Some(invalidate) = self.invalidate.get().cloned() {
            let ino = file.ino;
            let _ = tokio::task::spawn_blocking(move || invalidate(ino)).await;
        }
        Ok(())
    }

    async fn give_back(&self, ino: u64) {
        // What this mount wrote to other files goes first, so that a mount
        // that sees these bytes sees those written before them (the
        // `-wal` frames before the `-shm` header that counts them).
        if let Err(e) = self.flush_others(ino).await {
            tracing::warn!(ino, error = %e, "other files' writes not sent before a write lease went back");
        }
        match self.retain_open(ino) {
            Some(file) => {
                file.give_back(&self.backend).await;
                let _ = self.drop_ref(&file).await;
            }
            None => {
                self.backend.drop_write_lease(ino);
                self.backend.send_released().await;
            }
        }
    }
}
