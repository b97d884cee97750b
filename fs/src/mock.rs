//! An in-memory model of the cluster for the filesystem's tests: a
//! namespace with the MDS's rules (ENOTEMPTY, EEXIST, EXDEV across
//! buckets, link counts), chunks as byte vectors, CommitWrite's extent
//! replacement, and faults to inject (failed writes, a dead or hung MDS).
//! Writes are planned with the client's own `plan_write`, so the layouts
//! the filesystem builds are the ones the real cluster would hold.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use bytes::Bytes;
use cairn_client::{
    layout::{plan_write, ChunkTarget},
    Commit, Extent, NamedInode, Node, NodeKind, ObjectVersion, SetAttr, WrittenData,
};
use cairn_common::{FsError, ROOT_INO};

use crate::backend::{Backend, Capacity, DataWriter, NewNode};

/// Faults the next calls meet.
#[derive(Default)]
pub struct Faults {
    /// Chunk writes that fail before this many succeed again.
    pub fail_writes: AtomicU32,
    /// Every call fails as if the MDS were gone.
    pub down: AtomicBool,
    /// Every call waits forever (a hung MDS).
    pub hang: AtomicBool,
    /// Chunk writes and syncs seen.
    pub writes: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_writes: AtomicU64,
    /// Metadata reads seen (what the entry cache saves).
    pub lookups: AtomicU64,
    pub getattrs: AtomicU64,
    pub readdirs: AtomicU64,
    /// Unlink calls seen: one by one, and batches.
    pub unlinks: AtomicU64,
    pub unlink_batches: AtomicU64,
}

#[derive(Default)]
struct State {
    next_ino: u64,
    next_chunk: u64,
    nodes: HashMap<u64, Node>,
    dentries: BTreeMap<(u64, Vec<u8>), u64>,
    /// Parent of each directory (to find buckets).
    parents: HashMap<u64, u64>,
    chunks: HashMap<u64, Vec<u8>>,
    /// Chunks freed because their last extent went (as the MDS does).
    freed: std::collections::HashSet<u64>,
    commits: u64,
    /// Metadata barriers asked for (fsync).
    metadata_syncs: u64,
    /// The MDS's clock for ctime, as far as the tests need it: it moves
    /// on at every change.
    changes: i64,
}

#[derive(Clone)]
pub struct Mock {
    state: Arc<Mutex<State>>,
    pub faults: Arc<Faults>,
    pub chunk_size: u64,
}

fn blank(ino: u64, kind: NodeKind, mode: u32) -> Node {
    Node {
        ino,
        kind,
        mode,
        uid: 0,
        gid: 0,
        size: 0,
        atime_ns: 0,
        mtime_ns: 0,
        ctime_ns: 0,
        nlink: if kind == NodeKind::Dir { 2 } else { 1 },
        etag: String::new(),
        content_type: String::new(),
        user_meta: Default::default(),
        headers: Default::default(),
        replicas: 3,
        min_replicas: 0,
        tier: 0,
        extents: Vec::new(),
        symlink_target: Vec::new(),
        xattrs: Default::default(),
        version_id: String::new(),
        protection: Default::default(),
        rdev: 0,
    }
}

fn name_of(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

pub use crate::extents::{cut_at, replace_range};

impl State {
    fn referenced(&self) -> std::collections::HashSet<u64> {
        self.nodes
            .values()
            .flat_map(|n| n.extents.iter().map(|e| e.chunk_id))
            .collect()
    }

    /// Frees the chunks of `before` that no layout holds any more.
    fn free_unreferenced(&mut self, before: std::collections::HashSet<u64>) {
        let now = self.referenced();
        for id in before.difference(&now) {
            self.chunks.remove(id);
            self.freed.insert(*id);
        }
    }

    fn node(&self, ino: u64) -> Result<&Node, FsError> {
        self.nodes
            .get(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))
    }

    fn dir(&self, ino: u64) -> Result<&Node, FsError> {
        let n = self.node(ino)?;
        if n.kind != NodeKind::Dir {
            return Err(FsError::NotDir(format!("inode {ino}")));
        }
        Ok(n)
    }

    fn bucket_of(&self, mut dir: u64) -> u64 {
        while let Some(&p) = self.parents.get(&dir) {
            if p == ROOT_INO {
                return dir;
            }
            dir = p;
        }
        dir
    }

    fn is_empty_dir(&self, ino: u64) -> bool {
        self.dentries
            .range((ino, Vec::new())..)
            .next()
            .is_none_or(|((p, _), _)| *p != ino)
    }

    /// Unlink, as the MDS makes it; with `expect`, only while the name
    /// names that inode.
    fn unlink(&mut self, parent: u64, name: &[u8], expect: Option<u64>) -> Result<(), FsError> {
        let key = (parent, name.to_vec());
        let ino = *self
            .dentries
            .get(&key)
            .filter(|ino| expect.is_none_or(|e| e == **ino))
            .ok_or_else(|| FsError::NotFound(name_of(name)))?;
        if self.node(ino)?.kind == NodeKind::Dir {
            return Err(FsError::IsDir(name_of(name)));
        }
        self.dentries.remove(&key);
        self.drop_link(ino);
        Ok(())
    }

    fn drop_link(&mut self, ino: u64) {
        let before = self.referenced();
        self.drop_link_inner(ino);
        self.free_unreferenced(before);
    }

    fn drop_link_inner(&mut self, ino: u64) {
        let gone = match self.nodes.get_mut(&ino) {
            Some(n) if n.kind == NodeKind::Dir => true,
            Some(n) => {
                n.nlink = n.nlink.saturating_sub(1);
                n.nlink == 0
            }
            None => false,
        };
        if gone {
            self.nodes.remove(&ino);
            self.parents.remove(&ino);
        }
    }

    fn add(&mut self, parent: u64, name: &[u8], mut node: Node) -> Node {
        self.next_ino += 1;
        node.ino = self.next_ino;
        if node.kind == NodeKind::Dir {
            self.parents.insert(node.ino, parent);
        }
        self.dentries.insert((parent, name.to_vec()), node.ino);
        self.nodes.insert(node.ino, node.clone());
        node
    }

    fn read(&self, node: &Node, offset: u64, len: u64) -> Vec<u8> {
        let end = node.size.min(offset.saturating_add(len));
        if offset >= end {
            return Vec::new();
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        for e in &node.extents {
            let from = e.file_offset.max(offset);
            let to = e.file_end().min(end);
            if from >= to {
                continue;
            }
            let chunk = self.chunks.get(&e.chunk_id).map_or(&[][..], Vec::as_slice);
            for pos in from..to {
                let at = (e.chunk_offset + pos - e.file_offset) as usize;
                buf[(pos - offset) as usize] = chunk.get(at).copied().unwrap_or(0);
            }
        }
        buf
    }
}

impl Default for Mock {
    fn default() -> Self {
        Mock::new(64)
    }
}

impl Mock {
    /// A model cluster with tiny chunks (so that tests cross chunk
    /// boundaries with a few bytes) and an empty root.
    pub fn new(chunk_size: u64) -> Mock {
        let mut st = State {
            next_ino: ROOT_INO,
            ..State::default()
        };
        st.nodes
            .insert(ROOT_INO, blank(ROOT_INO, NodeKind::Dir, 0o755));
        Mock {
            state: Arc::new(Mutex::new(st)),
            faults: Arc::new(Faults::default()),
            chunk_size,
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn gate(&self) -> Result<(), FsError> {
        if self.faults.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.faults.down.load(Ordering::SeqCst) {
            return Err(FsError::Unavailable("MDS down (injected)".into()));
        }
        Ok(())
    }

    /// The committed content of `ino`, as S3 would serve it.
    pub fn content(&self, ino: u64) -> Vec<u8> {
        let st = self.st();
        match st.nodes.get(&ino) {
            Some(n) => st.read(n, 0, n.size),
            None => Vec::new(),
        }
    }

    pub fn node(&self, ino: u64) -> Option<Node> {
        self.st().nodes.get(&ino).cloned()
    }

    pub fn commits(&self) -> u64 {
        self.st().commits
    }

    pub fn metadata_syncs(&self) -> u64 {
        self.st().metadata_syncs
    }

    /// Replaces a file's content at once, as an S3 PUT does.
    pub fn put(&self, ino: u64, data: &[u8]) {
        let mut st = self.st();
        st.next_chunk += 1;
        let id = st.next_chunk;
        st.chunks.insert(id, data.to_vec());
        if let Some(n) = st.nodes.get_mut(&ino) {
            n.size = data.len() as u64;
            n.extents = vec![Extent {
                file_offset: 0,
                chunk_id: id,
                chunk_offset: 0,
                length: data.len() as u64,
            }];
        }
    }
}

pub struct MockWriter {
    mock: Mock,
    ino: u64,
    slots: HashMap<u64, u64>,
}

impl DataWriter for MockWriter {
    async fn write(
        &mut self,
        layout: &[Extent],
        segments: Vec<(u64, Bytes)>,
        sync: bool,
    ) -> Result<WrittenData, FsError> {
        self.mock.gate().await?;
        let f = &self.mock.faults;
        f.writes.fetch_add(1, Ordering::SeqCst);
        if sync {
            f.sync_writes.fetch_add(1, Ordering::SeqCst);
        }
        if f.fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(FsError::Io("chunk write failed (injected)".into()));
        }
        let mut st = self.mock.st();
        let mut extents = Vec::new();
        let mut touched: BTreeMap<u64, u64> = BTreeMap::new();
        for (offset, data) in segments {
            for p in plan_write(
                layout,
                self.mock.chunk_size,
                offset,
                data.len() as u64,
                |_| false,
            ) {
                let chunk_id = match p.target {
                    ChunkTarget::Existing(id) => id,
                    ChunkTarget::Slot(slot) => match self.slots.get(&slot) {
                        Some(id) => *id,
                        None => {
                            st.next_chunk += 1;
                            let id = st.next_chunk;
                            self.slots.insert(slot, id);
                            id
                        }
                    },
                };
                let chunk = st.chunks.entry(chunk_id).or_default();
                let end = (p.chunk_offset + p.len) as usize;
                if chunk.len() < end {
                    chunk.resize(end, 0);
                }
                let high = touched.entry(chunk_id).or_default();
                *high = (*high).max(end as u64);
                let from = (p.file_offset - offset) as usize;
                chunk[p.chunk_offset as usize..end]
                    .copy_from_slice(&data[from..from + p.len as usize]);
                if let ChunkTarget::Slot(_) = p.target {
                    extents.push(Extent {
                        file_offset: p.file_offset,
                        chunk_id,
                        chunk_offset: p.chunk_offset,
                        length: p.len,
                    });
                }
            }
        }
        let _ = self.ino;
        Ok(WrittenData {
            size: 0,
            md5_hex: String::new(),
            extents: cairn_client::layout::merge_extents(extents),
            chunk_lengths: touched.into_iter().collect(),
        })
    }

    async fn sync(&mut self) -> Result<(), FsError> {
        self.mock.gate().await?;
        self.mock.faults.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn retain_chunks(&mut self, layout: &[Extent]) {
        let live: std::collections::HashSet<u64> = layout.iter().map(|e| e.chunk_id).collect();
        self.slots.retain(|_, id| live.contains(id));
    }
}

impl Backend for Mock {
    type Writer = MockWriter;

    async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node, FsError> {
        self.gate().await?;
        self.faults.lookups.fetch_add(1, Ordering::SeqCst);
        let st = self.st();
        st.dir(parent)?;
        let ino = st
            .dentries
            .get(&(parent, name.to_vec()))
            .ok_or_else(|| FsError::NotFound(name_of(name)))?;
        st.node(*ino).cloned()
    }

    async fn getattr(&self, ino: u64) -> Result<Node, FsError> {
        self.gate().await?;
        self.faults.getattrs.fetch_add(1, Ordering::SeqCst);
        self.st().node(ino).cloned()
    }

    async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node, FsError> {
        self.gate().await?;
        let mut st = self.st();
        let before = st.referenced();
        let n = st
            .nodes
            .get_mut(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))?;
        if let Some(m) = attr.mode {
            n.mode = m;
        }
        if let Some(u) = attr.uid {
            n.uid = u;
        }
        if let Some(g) = attr.gid {
            n.gid = g;
        }
        if let Some(size) = attr.size {
            n.extents = cut_at(&n.extents, size);
            n.size = size;
            n.etag.clear();
        }
        if let Some(t) = attr.atime_ns {
            n.atime_ns = t;
        }
        if let Some(t) = attr.mtime_ns {
            n.mtime_ns = t;
        }
        for (k, v) in attr.set_xattrs {
            n.xattrs.insert(k, v);
        }
        for k in attr.remove_xattrs {
            n.xattrs.remove(&k);
        }
        let out = n.clone();
        st.free_unreferenced(before);
        Ok(out)
    }

    async fn create(&self, new: NewNode<'_>) -> Result<Node, FsError> {
        self.gate().await?;
        let mut st = self.st();
        st.dir(new.parent)?;
        if let Some(ino) = st.dentries.get(&(new.parent, new.name.to_vec())) {
            if new.exclusive {
                return Err(FsError::Exists(name_of(new.name)));
            }
            return st.node(*ino).cloned();
        }
        let mut node = blank(0, new.kind, new.mode);
        node.uid = new.uid;
        node.gid = new.gid;
        node.symlink_target = new.target.to_vec();
        if new.kind == NodeKind::Symlink {
            node.size = new.target.len() as u64;
        }
        node.rdev = new.rdev;
        Ok(st.add(new.parent, new.name, node))
    }

    async fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        self.gate().await?;
        self.faults.unlinks.fetch_add(1, Ordering::SeqCst);
        self.st().unlink(parent, name, None)
    }

    async fn unlink_many(
        &self,
        unlinks: &[NamedInode],
    ) -> Result<Vec<Result<(), FsError>>, FsError> {
        self.gate().await?;
        self.faults.unlink_batches.fetch_add(1, Ordering::SeqCst);
        let mut st = self.st();
        Ok(unlinks
            .iter()
            .map(|u| st.unlink(u.parent, &u.name, Some(u.ino)))
            .collect())
    }

    async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        self.gate().await?;
        let mut st = self.st();
        let key = (parent, name.to_vec());
        let ino = *st
            .dentries
            .get(&key)
            .ok_or_else(|| FsError::NotFound(name_of(name)))?;
        st.dir(ino)?;
        if !st.is_empty_dir(ino) {
            return Err(FsError::NotEmpty(name_of(name)));
        }
        st.dentries.remove(&key);
        st.drop_link(ino);
        Ok(())
    }

    async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        no_replace: bool,
    ) -> Result<(), FsError> {
        self.gate().await?;
        let mut st = self.st();
        st.dir(new_parent)?;
        let from = (parent, name.to_vec());
        let to = (new_parent, new_name.to_vec());
        let ino = *st
            .dentries
            .get(&from)
            .ok_or_else(|| FsError::NotFound(name_of(name)))?;
        if st.bucket_of(parent) != st.bucket_of(new_parent) {
            return Err(FsError::CrossDevice(name_of(name)));
        }
        if from == to {
            return Ok(());
        }
        let moving_dir = st.node(ino)?.kind == NodeKind::Dir;
        if let Some(&old) = st.dentries.get(&to) {
            if no_replace {
                return Err(FsError::Exists(name_of(new_name)));
            }
            if old == ino {
                st.dentries.remove(&from);
                st.drop_link(ino);
                return Ok(());
            }
            let old_is_dir = st.node(old)?.kind == NodeKind::Dir;
            match (moving_dir, old_is_dir) {
                (false, true) => return Err(FsError::IsDir(name_of(new_name))),
                (true, false) => return Err(FsError::NotDir(name_of(new_name))),
                (true, true) if !st.is_empty_dir(old) => {
                    return Err(FsError::NotEmpty(name_of(new_name)))
                }
                _ => {}
            }
            st.dentries.remove(&to);
            st.drop_link(old);
        }
        st.dentries.remove(&from);
        st.dentries.insert(to, ino);
        if moving_dir {
            st.parents.insert(ino, new_parent);
        }
        Ok(())
    }

    async fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Node, FsError> {
        self.gate().await?;
        let mut st = self.st();
        st.dir(new_parent)?;
        if st.node(ino)?.kind == NodeKind::Dir {
            return Err(FsError::PermissionDenied("hard link to a directory".into()));
        }
        let key = (new_parent, new_name.to_vec());
        if st.dentries.contains_key(&key) {
            return Err(FsError::Exists(name_of(new_name)));
        }
        st.dentries.insert(key, ino);
        let n = st
            .nodes
            .get_mut(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))?;
        n.nlink += 1;
        Ok(n.clone())
    }

    async fn readlink(&self, ino: u64) -> Result<Vec<u8>, FsError> {
        self.gate().await?;
        let st = self.st();
        let n = st.node(ino)?;
        if n.kind != NodeKind::Symlink {
            return Err(FsError::Invalid("not a symlink".into()));
        }
        Ok(n.symlink_target.clone())
    }

    async fn readdir(
        &self,
        ino: u64,
        after: &[u8],
        limit: u32,
    ) -> Result<(Vec<(Vec<u8>, Node)>, bool), FsError> {
        self.gate().await?;
        self.faults.readdirs.fetch_add(1, Ordering::SeqCst);
        let st = self.st();
        st.dir(ino)?;
        let limit = if limit == 0 { 1000 } else { limit as usize };
        let mut out = Vec::new();
        let mut more = false;
        for ((p, name), child) in st.dentries.range((ino, after.to_vec())..) {
            if *p != ino {
                break;
            }
            if name.as_slice() == after {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push((name.clone(), st.node(*child)?.clone()));
        }
        Ok((out, more))
    }

    async fn create_bucket(&self, name: &str, _owner: &str) -> Result<(), FsError> {
        self.gate().await?;
        let mut st = self.st();
        if st
            .dentries
            .contains_key(&(ROOT_INO, name.as_bytes().to_vec()))
        {
            return Err(FsError::Exists(name.into()));
        }
        st.add(ROOT_INO, name.as_bytes(), blank(0, NodeKind::Dir, 0o755));
        Ok(())
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), FsError> {
        self.rmdir(ROOT_INO, name.as_bytes()).await
    }

    async fn capacity(&self) -> Result<Capacity, FsError> {
        self.gate().await?;
        Ok(Capacity {
            total: 3 << 30,
            free: 2 << 30,
            inodes: self.st().nodes.len() as u64,
            free_inodes: 1 << 20,
        })
    }

    async fn read(&self, node: &Node, offset: u64, len: u64) -> Result<Vec<Bytes>, FsError> {
        self.gate().await?;
        let data = self.st().read(node, offset, len);
        Ok(vec![Bytes::from(data)])
    }

    async fn locations(&self, ids: &[u64]) -> Result<Vec<cairn_client::ChunkLocation>, FsError> {
        self.gate().await?;
        let st = self.st();
        Ok(ids
            .iter()
            .map(|id| cairn_client::ChunkLocation {
                chunk_id: *id,
                version: 1,
                length: st.chunks.get(id).map_or(0, |c| c.len() as u64),
                replicas: Vec::new(),
                shared: false,
                min_replicas: 0,
            })
            .collect())
    }

    fn writer(&self, node: &Node) -> MockWriter {
        MockWriter {
            mock: self.clone(),
            ino: node.ino,
            slots: HashMap::new(),
        }
    }

    async fn commit_write(
        &self,
        ino: u64,
        written: &WrittenData,
        commit: &Commit<'_>,
    ) -> Result<Node, FsError> {
        let (size, etag, mtime_ns) = (commit.size, commit.etag, commit.mtime_ns);
        self.gate().await?;
        let mut st = self.st();
        st.commits += 1;
        if let Some(e) = written
            .extents
            .iter()
            .find(|e| st.freed.contains(&e.chunk_id))
        {
            return Err(FsError::Invalid(format!(
                "chunk {} does not exist",
                e.chunk_id
            )));
        }
        let before = st.referenced();
        let n = st
            .nodes
            .get_mut(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))?;
        for e in &written.extents {
            n.extents = replace_range(&n.extents, *e);
        }
        n.extents = cut_at(&n.extents, size);
        n.size = size;
        n.etag = etag.to_string();
        n.mtime_ns = mtime_ns;
        st.changes += 1;
        let ctime = st.changes;
        let n = st
            .nodes
            .get_mut(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))?;
        n.ctime_ns = ctime;
        let out = n.clone();
        st.free_unreferenced(before);
        Ok(out)
    }

    async fn sync_metadata(&self) -> Result<(), FsError> {
        self.gate().await?;
        self.st().metadata_syncs += 1;
        Ok(())
    }

    /// The model keeps no versions (an unversioned store).
    async fn list_versions(
        &self,
        _bucket: &str,
        _prefix: &[u8],
        _key_marker: &[u8],
        _version_id_marker: &str,
        _limit: u32,
    ) -> Result<(Vec<ObjectVersion>, bool), FsError> {
        self.gate().await?;
        Ok((Vec::new(), false))
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &[u8],
        version_id: &str,
    ) -> Result<ObjectVersion, FsError> {
        self.gate().await?;
        Err(FsError::NotFound(format!(
            "{bucket}/{} version {version_id}",
            String::from_utf8_lossy(key)
        )))
    }

    async fn punch_hole(&self, ino: u64, offset: u64, len: u64) -> Result<Node, FsError> {
        self.gate().await?;
        let mut st = self.st();
        let before = st.referenced();
        st.changes += 1;
        let ctime = st.changes;
        let n = st
            .nodes
            .get_mut(&ino)
            .ok_or_else(|| FsError::NotFound(format!("inode {ino}")))?;
        if n.kind != NodeKind::File || len == 0 {
            return Err(FsError::Invalid(format!("no hole in inode {ino}")));
        }
        n.extents = crate::extents::punch(&n.extents, offset, offset.saturating_add(len));
        n.etag.clear();
        n.ctime_ns = ctime;
        let out = n.clone();
        st.free_unreferenced(before);
        Ok(out)
    }
}
