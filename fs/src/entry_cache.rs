//! The mount's entry and attribute cache: a directory-level prefetch that
//! answers a storm of lookups (`ls -l`, `stat` of every file, `rm -r`, an
//! unpacking `tar` probing names before creating them) the way
//! readdirplus does, with one MDS call per page of names instead of one
//! per name.
//!
//! A lookup that misses fetches the page of its directory that starts at
//! the missed name (one readdir call) and keeps it: later lookups of names
//! the page holds are answered from it, and so are names it proves absent
//! (an unpacking `tar` or a loop of creates probes each new name first):
//! an object PUT through S3 shows within the timeout, as a change does.
//! Nodes are kept by inode for getattr too, with those getattr itself
//! fetched.
//!
//! A directory's own node follows the changes made here in it: its mtime
//! and ctime become the mount's clock (as the mtime of a file written here
//! does before its commit) and its link count follows mkdir, so the
//! kernel, which asks for the directory's attributes after each create and
//! unlink in it, is answered without a call.
//!
//! Invariants:
//! * an answer is never older than `ttl` (counted from the moment its page
//!   or node was fetched); the kernel gets only the remainder as its own
//!   entry and attribute timeout, so both caches together stay within
//!   `ttl` (at most 1 s: changes made through S3 or another mount show up
//!   within it);
//! * a change made through this mount is applied to the cache, or drops
//!   what it touches, before the change is answered, so the mount sees its
//!   own changes at once;
//! * a page or node whose fetch overlapped a change made through this
//!   mount is not kept (it may predate the change): every change bumps
//!   `generation`, and a fill brings the generation it started at;
//! * a page covers the names in `(after, upto]` (`upto` None: to the end
//!   of the directory), exactly as the MDS listed them in one read.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use cairn_client::Node;
use tokio::time::Instant;

use crate::backend::DirPage;

/// Names fetched per prefetch: a few hundred lookups answered per call.
pub const PREFETCH: u32 = 256;

/// Most names (and nodes) kept: bounds the memory (a few hundred bytes
/// each); past it, expired pages go, then everything.
const MAX_ENTRIES: usize = 1 << 16;

/// What the cache knows about a name.
#[derive(Debug, Clone, PartialEq)]
// Returned once per lookup and never stored: boxing the node would cost an
// allocation per cached answer.
#[allow(clippy::large_enum_variant)]
pub enum Hit {
    /// The name is there; the kernel may keep it for the duration.
    Found(Node, Duration),
    /// The name is not in the directory.
    Absent,
}

#[derive(Debug)]
struct Page {
    at: Instant,
    after: Vec<u8>,
    upto: Option<Vec<u8>>,
    names: BTreeMap<Vec<u8>, u64>,
}

impl Page {
    fn covers(&self, name: &[u8]) -> bool {
        name > self.after.as_slice() && self.upto.as_deref().is_none_or(|u| name <= u)
    }
}

#[derive(Debug)]
struct Kept {
    node: Node,
    at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    /// Pages by directory, newest last.
    dirs: HashMap<u64, Vec<Page>>,
    nodes: HashMap<u64, Kept>,
    names: usize,
    generation: u64,
}

/// See the module documentation. A `ttl` of zero turns the cache off.
#[derive(Debug)]
pub struct EntryCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

/// The name that sorts just before `name` closely enough for a page
/// fetched after it to start at `name` (a readdir lists names after a
/// cursor, exclusive).
pub fn just_before(name: &[u8]) -> Vec<u8> {
    let mut before = name.to_vec();
    match before.pop() {
        Some(last) if last > 0 => before.push(last - 1),
        _ => {}
    }
    before
}

impl EntryCache {
    pub fn new(ttl: Duration) -> EntryCache {
        EntryCache {
            ttl,
            inner: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain maps: a panic elsewhere leaves them usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What remains of the timeout of something fetched at `at`, if any.
    fn left(&self, at: Instant, now: Instant) -> Option<Duration> {
        self.ttl
            .checked_sub(now.saturating_duration_since(at))
            .filter(|d| !d.is_zero())
    }

    /// The generation a fill must bring (see [`EntryCache::fill`]).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// `name` in `parent`, if a fresh page covers it (and, when there, its
    /// node is fresh too).
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Option<Hit> {
        if !self.enabled() {
            return None;
        }
        let now = Instant::now();
        let inner = self.lock();
        let page = inner
            .dirs
            .get(&parent)?
            .iter()
            .rev()
            .find(|p| p.covers(name) && self.left(p.at, now).is_some())?;
        match page.names.get(name) {
            None => Some(Hit::Absent),
            Some(ino) => {
                let kept = inner.nodes.get(ino)?;
                let left = self.left(kept.at, now)?;
                Some(Hit::Found(kept.node.clone(), left))
            }
        }
    }

    /// The node of `ino` and what remains of its timeout, if fresh.
    pub fn getattr(&self, ino: u64) -> Option<(Node, Duration)> {
        if !self.enabled() {
            return None;
        }
        let now = Instant::now();
        let inner = self.lock();
        let kept = inner.nodes.get(&ino)?;
        let left = self.left(kept.at, now)?;
        Some((kept.node.clone(), left))
    }

    /// Keeps `node`, fetched starting at `started` while the cache was at
    /// `generation` (a getattr or lookup answer), unless a change came
    /// meanwhile.
    pub fn fill_node(&self, node: &Node, generation: u64, started: Instant) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation == generation {
            inner.keep_node(self, node, started);
        }
    }

    /// Keeps a page of `parent` listed after `after`, fetched starting at
    /// `started` while the cache was at `generation`. A fill that
    /// overlapped a change is dropped.
    pub fn fill(
        &self,
        parent: u64,
        after: Vec<u8>,
        page: &DirPage,
        generation: u64,
        started: Instant,
    ) {
        if !self.enabled() {
            return;
        }
        let (entries, more) = page;
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let upto = if *more {
            match entries.last() {
                Some((name, _)) => Some(name.clone()),
                None => return,
            }
        } else {
            None
        };
        if inner.names + entries.len() > MAX_ENTRIES {
            inner.prune(self, started);
        }
        let mut names = BTreeMap::new();
        for (name, node) in entries {
            names.insert(name.clone(), node.ino);
            inner.nodes.insert(
                node.ino,
                Kept {
                    node: node.clone(),
                    at: started,
                },
            );
        }
        inner.names += names.len();
        inner.dirs.entry(parent).or_default().push(Page {
            at: started,
            after,
            upto,
            names,
        });
    }

    /// A name made here (create, mkdir, symlink, link) with its node as
    /// the MDS answered.
    pub fn added(&self, parent: u64, name: &[u8], node: &Node) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        let mut added = 0;
        if let Some(pages) = inner.dirs.get_mut(&parent) {
            for p in pages.iter_mut().filter(|p| p.covers(name)) {
                if p.names.insert(name.to_vec(), node.ino).is_none() {
                    added += 1;
                }
            }
        }
        inner.names += added;
        let subdir = node.kind == cairn_client::NodeKind::Dir;
        inner.touch_dir(parent, if subdir { 1 } else { 0 });
        inner.keep_node(self, node, Instant::now());
    }

    /// A name removed here (unlink, rmdir with `dir`, the source of a
    /// rename): gone from the pages that cover it; its node (link count) is
    /// dropped and the directory's changed.
    pub fn removed(&self, parent: u64, name: &[u8], dir: bool) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        let mut gone = Vec::new();
        if let Some(pages) = inner.dirs.get_mut(&parent) {
            for p in pages.iter_mut().filter(|p| p.covers(name)) {
                gone.extend(p.names.remove(name));
            }
        }
        inner.names = inner.names.saturating_sub(gone.len());
        for ino in gone {
            inner.nodes.remove(&ino);
        }
        inner.touch_dir(parent, if dir { -1 } else { 0 });
    }

    /// A name whose target is unknown here (the target of a rename):
    /// every page that covers it is dropped, and the node it named.
    pub fn forget_name(&self, parent: u64, name: &[u8]) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        inner.nodes.remove(&parent);
        let Some(pages) = inner.dirs.get_mut(&parent) else {
            return;
        };
        let (dropped, kept): (Vec<Page>, Vec<Page>) = pages.drain(..).partition(|p| p.covers(name));
        *pages = kept;
        for p in dropped {
            inner.names = inner.names.saturating_sub(p.names.len());
            if let Some(ino) = p.names.get(name) {
                inner.nodes.remove(ino);
            }
        }
    }

    /// The node of `ino` changed here (attributes, content, links).
    pub fn forget_node(&self, ino: u64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        inner.nodes.remove(&ino);
    }

    /// The node of `ino` as the MDS answered a change made here.
    pub fn put_node(&self, node: &Node) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        inner.keep_node(self, node, Instant::now());
    }
}

impl Inner {
    /// Keeps `node` as fresh as of `at`.
    fn keep_node(&mut self, cache: &EntryCache, node: &Node, at: Instant) {
        if self.nodes.len() >= MAX_ENTRIES {
            self.prune(cache, Instant::now());
        }
        self.nodes.insert(
            node.ino,
            Kept {
                node: node.clone(),
                at,
            },
        );
    }

    /// An entry of directory `ino` was added or removed here: its times
    /// become now and its link count moves by `links` (a subdirectory).
    /// Its node keeps the age it had: the MDS's own is at most that old.
    fn touch_dir(&mut self, ino: u64, links: i32) {
        if let Some(kept) = self.nodes.get_mut(&ino) {
            let now = cairn_common::time::now_ns();
            kept.node.mtime_ns = now;
            kept.node.ctime_ns = now;
            kept.node.nlink = kept.node.nlink.saturating_add_signed(links);
        }
    }

    /// Drops expired pages and nodes; everything if that is not enough.
    fn prune(&mut self, cache: &EntryCache, now: Instant) {
        let mut names = 0;
        for pages in self.dirs.values_mut() {
            pages.retain(|p| cache.left(p.at, now).is_some());
            names += pages.iter().map(|p| p.names.len()).sum::<usize>();
        }
        self.dirs.retain(|_, pages| !pages.is_empty());
        self.nodes.retain(|_, k| cache.left(k.at, now).is_some());
        self.names = names;
        if self.names > MAX_ENTRIES / 2 || self.nodes.len() > MAX_ENTRIES {
            self.dirs.clear();
            self.nodes.clear();
            self.names = 0;
        }
    }
}
