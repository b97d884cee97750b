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
    /// `invalidate` drops the kernel's cache of a file.
    pub fn follow_changes(self: &Arc<Self>, invalidate: impl Fn(Stale) + Send + Sync + 'static) {
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
                        fs.changed_elsewhere(ino, &invalidate, applying).await;
                    }
                    FileEvent::AllChanged => {
                        let applying = fs.feed.applying().await;
                        let open: Vec<u64> = locked(&fs.open).keys().copied().collect();
                        for ino in open {
                            fs.changed_elsewhere(ino, &invalidate, applying.clone())
                                .await;
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
    /// barrier waits for it). Open files are taken in the feed's order, one
    /// at a time: SQLite's reader must never see the `-shm` header of a
    /// commit before the `-wal` frames it counts.
    async fn changed_elsewhere(
        self: &Arc<Self>,
        ino: u64,
        invalidate: &Invalidate,
        applying: Applying,
    ) {
        self.entries.forget_node(ino);
        let invalidate = invalidate.clone();
        let Some(file) = self.open_file(ino) else {
            // The kernel may still cache pages of a closed file; they go.
            let fs = self.clone();
            tokio::spawn(async move {
                fs.backend.changed_elsewhere(ino).await;
                let _ = tokio::task::spawn_blocking(move || invalidate(Stale::all(ino))).await;
                drop(applying);
            });
            return;
        };
        self.backend.changed_elsewhere(ino).await;
        let stale = match self.ask("getattr", self.backend.getattr(ino)).await {
            Ok(node) => {
                tracing::debug!(
                    ino,
                    size = node.size,
                    ctime = node.ctime_ns,
                    "changed elsewhere"
                );
                self.take_node(&file, node).await
            }
            Err(e) => {
                tracing::debug!(ino, error = %e, "a file changed elsewhere was not read again; the next open does");
                Stale::all(ino)
            }
        };
        // After the new node is in place: a read the kernel sends now gets
        // the new content.
        let _ = tokio::task::spawn_blocking(move || invalidate(stale)).await;
        drop(applying);
    }

    /// `file` takes `node`, committed by another mount; says what the
    /// kernel must drop.
    async fn take_node(&self, file: &OpenFile<B>, node: Node) -> Stale {
        let ino = file.ino;
        let shown = file.size();
        let grew = node.size > shown && !file.is_dirty();
        file.moved_on(node.clone());
        if !grew {
            return Stale::all(ino);
        }
        let last = node.size - 1;
        match self.backend.read(&node, last, 1).await {
            Ok(pieces) => match pieces.iter().find_map(|p| p.first().copied()) {
                Some(byte) => Stale {
                    ino,
                    tail: Some((last, byte)),
                },
                None => Stale::all(ino),
            },
            Err(e) => {
                tracing::debug!(ino, error = %e, "the last byte of a grown file was not read");
                Stale::all(ino)
            }
        }
    }

    /// A lock was just taken on open file `file`: when another mount
    /// changed the file meanwhile, its new node replaces the old one and
    /// the kernel's cache of it goes.
    pub(super) async fn revalidate(&self, file: &OpenFile<B>) -> Result<()> {
        let node = self.ask("getattr", self.backend.getattr(file.ino)).await?;
        if node.ctime_ns == file.committed_ctime() {
            return Ok(());
        }
        let stale = self.take_node(file, node).await;
        self.backend.changed_elsewhere(file.ino).await;
        if let Some(invalidate) = self.invalidate.get().cloned() {
            let _ = tokio::task::spawn_blocking(move || invalidate(stale)).await;
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

/// What the kernel must drop of a file: its pages and attributes, and
/// when the file grew, what its size is now.
///
/// Why the size rides separately: Linux drops an attribute answer when an
/// invalidation of the inode came between the request and the answer
/// (`attr_version`). A read past the old end waits for such an answer; when
/// it is dropped, the read ends at the old size, and SQLite's reader of
/// another host's `-wal` gets a short read. Storing the new last byte
/// (`FUSE_NOTIFY_STORE`) sets the kernel's size directly, before the
/// invalidation, so a dropped answer leaves the right size behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    pub ino: u64,
    /// The file's last byte: its offset and value.
    pub tail: Option<(u64, u8)>,
}

impl Stale {
    /// Pages and attributes go; the size comes with the next attributes.
    pub fn all(ino: u64) -> Stale {
        Stale { ino, tail: None }
    }
}
