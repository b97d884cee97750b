//! Twins of the kernel's pages, so that a page written back from a shared
//! mapping sends only the bytes this host changed.
//!
//! The kernel writes a dirty mapped page back whole. When two hosts map
//! one file and each stores to other bytes of one page under other locks
//! (SQLite's `-shm`: the writer's index header and a reader's read mark
//! share its first page), the page of one host would put back the other
//! host's bytes as they were when it read them. So for the files locked
//! through this mount, the mount keeps a copy (a twin, as in software
//! shared memory) of each page as the kernel got it (reads) or wrote it
//! through (writes), and a page written back from the cache is compared
//! with it: only the runs of bytes that differ are written.
//!
//! A page without a twin (the file was not locked when it was read, or is
//! past [`MAX_PAGES`]) is written whole, as before.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Mutex, MutexGuard, PoisonError},
};

/// The kernel's page.
pub const PAGE: u64 = 4096;
/// Pages kept per file: its first 8 MiB (SQLite's `-shm` grows by 32 KiB
/// per 4096 WAL frames).
pub const MAX_PAGES: u64 = 2048;

/// A file's twins by page number.
type Pages = HashMap<u64, Box<[u8]>>;

#[derive(Debug, Default)]
pub struct Twins {
    files: Mutex<HashMap<u64, Pages>>,
}

impl Twins {
    fn files(&self) -> MutexGuard<'_, HashMap<u64, Pages>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, pages of `ino` get twins (a lock was taken on it).
    pub fn track(&self, ino: u64) {
        self.files().entry(ino).or_default();
    }

    /// The file was closed here: its twins go.
    pub fn forget(&self, ino: u64) {
        self.files().remove(&ino);
    }

    /// The kernel asked for `size` bytes at `offset` into its page cache and
    /// got `data` (short at the end of the file: the rest of the page is
    /// zeros to it).
    pub fn served(&self, ino: u64, offset: u64, size: u32, data: &[u8]) {
        let mut files = self.files();
        let Some(pages) = files.get_mut(&ino) else {
            return;
        };
        let end = offset + u64::from(size);
        let mut page = offset.div_ceil(PAGE);
        while (page + 1) * PAGE <= end && page < MAX_PAGES {
            let mut twin = vec![0u8; PAGE as usize].into_boxed_slice();
            let from = (page * PAGE - offset) as usize;
            if from < data.len() {
                let n = (data.len() - from).min(PAGE as usize);
                twin[..n].copy_from_slice(&data[from..from + n]);
            }
            pages.insert(page, twin);
            page += 1;
        }
    }

    /// `data` was written at `offset` through the kernel's cache: the
    /// twins of the pages it covers take it.
    pub fn written(&self, ino: u64, offset: u64, data: &[u8]) {
        let mut files = self.files();
        let Some(pages) = files.get_mut(&ino) else {
            return;
        };
        for (page, at, run) in spans(offset, data.len()) {
            if let Some(twin) = pages.get_mut(&page) {
                twin[at..at + run.len()].copy_from_slice(&data[run]);
            }
        }
    }

    /// The file is cut to `size`: the twins past it go.
    pub fn truncated(&self, ino: u64, size: u64) {
        if let Some(pages) = self.files().get_mut(&ino) {
            pages.retain(|page, _| *page * PAGE < size);
        }
    }

    /// A write-back of `data` at `offset`: the runs of it (ranges of
    /// `data`) that differ from the twins; None when a page it covers has
    /// no twin (write it all).
    pub fn changed(&self, ino: u64, offset: u64, data: &[u8]) -> Option<Vec<Range<usize>>> {
        let files = self.files();
        let pages = files.get(&ino)?;
        let mut runs: Vec<Range<usize>> = Vec::new();
        for (page, at, span) in spans(offset, data.len()) {
            let twin = pages.get(&page)?;
            for (i, b) in data[span.clone()].iter().enumerate() {
                if twin[at + i] == *b {
                    continue;
                }
                let pos = span.start + i;
                match runs.last_mut() {
                    Some(last) if last.end == pos => last.end = pos + 1,
                    _ => runs.push(pos..pos + 1),
                }
            }
        }
        Some(runs)
    }
}

/// The pieces of `len` bytes at `offset`, page by page: (page, offset in
/// the page, range of the bytes).
fn spans(offset: u64, len: usize) -> impl Iterator<Item = (u64, usize, Range<usize>)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let pos = offset + done as u64;
        let (page, at) = (pos / PAGE, (pos % PAGE) as usize);
        let n = (PAGE as usize - at).min(len - done);
        let span = done..done + n;
        done += n;
        Some((page, at, span))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_back_sends_only_the_bytes_this_host_changed() {
        let t = Twins::default();
        let page = vec![7u8; PAGE as usize];
        // Not locked: no twin, written whole.
        t.served(1, 0, PAGE as u32, &page);
        assert_eq!(t.changed(1, 0, &page), None);
        t.track(1);
        t.served(1, 0, 2 * PAGE as u32, &page);
        // The second page was past the end of the file: zeros.
        let mut back = page.clone();
        back.extend(vec![0u8; PAGE as usize]);
        assert_eq!(t.changed(1, 0, &back), Some(vec![]));
        back[10] = 1;
        back[11] = 2;
        back[PAGE as usize + 5] = 3;
        assert_eq!(
            t.changed(1, 0, &back),
            Some(vec![10..12, PAGE as usize + 5..PAGE as usize + 6])
        );
        // A write through the cache moves the twin on.
        t.written(1, 10, &[1, 2]);
        let runs = t.changed(1, 0, &back).unwrap_or_default();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0], PAGE as usize + 5..PAGE as usize + 6);
        // A page with no twin: all of it.
        assert_eq!(t.changed(1, 2 * PAGE, &page), None);
        t.truncated(1, PAGE);
        assert_eq!(t.changed(1, PAGE, &page), None);
        t.forget(1);
        assert_eq!(t.changed(1, 0, &page), None);
    }

    #[test]
    fn reads_that_do_not_cover_a_whole_page_leave_no_twin() {
        let t = Twins::default();
        t.track(2);
        t.served(2, 100, 5000, &[9u8; 5000]);
        assert_eq!(t.changed(2, 0, &[0u8; 10]), None);
        // Page 1 ([4096, 8192)) is not covered by [100, 5100) either.
        assert_eq!(t.changed(2, PAGE, &[0u8; 10]), None);
        t.served(2, 100, 8092, &[9u8; 8092]);
        assert_eq!(t.changed(2, PAGE, &[9u8; 10]), Some(vec![]));
    }
}
