//! A directory listing for one opendir handle: pages fetched from the MDS
//! as the reader gets to them, kept so that offsets stay stable.
//!
//! Offsets: 0 is `.`, 1 is `..`, `k + 2` is the k-th visible entry. The
//! offset attached to an entry is the offset of the entry after it, as the
//! kernel expects. Names that cannot be POSIX names are left out (they are
//! S3 keys only; see `names`).

use cairn_client::Node;

use crate::names::posix_visible;

/// Entries fetched per MDS call.
pub const PAGE: u32 = 1000;

/// One entry handed to the kernel.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    pub node: Node,
    /// Offset of the entry after this one.
    pub next: u64,
}

#[derive(Debug)]
pub struct Listing {
    /// The directory itself (for `.` and `..`).
    pub dir: Node,
    entries: Vec<(Vec<u8>, Node)>,
    /// The last name fetched: the next page starts after it.
    cursor: Vec<u8>,
    done: bool,
}

impl Listing {
    pub fn new(dir: Node) -> Listing {
        Listing {
            dir,
            entries: Vec::new(),
            cursor: Vec::new(),
            done: false,
        }
    }

    /// Whether entries up to index `want` (exclusive) still need a page.
    pub fn needs_page(&self, want: usize) -> bool {
        !self.done && self.entries.len() < want
    }

    /// Where the next page starts.
    pub fn cursor(&self) -> &[u8] {
        &self.cursor
    }

    /// Adds a page from the MDS; `more` tells whether another follows.
    pub fn add_page(&mut self, page: Vec<(Vec<u8>, Node)>, more: bool) {
        if let Some((last, _)) = page.last() {
            self.cursor = last.clone();
        }
        // A page that brings nothing cannot advance: treat it as the end.
        self.done = !more || page.is_empty();
        self.entries
            .extend(page.into_iter().filter(|(name, _)| posix_visible(name)));
    }

    /// Up to `max` entries from `offset` on, as far as fetched.
    pub fn entries_from(&self, offset: u64, max: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut off = offset;
        while out.len() < max {
            let entry = match off {
                0 => Entry {
                    name: b".".to_vec(),
                    node: self.dir.clone(),
                    next: 1,
                },
                1 => Entry {
                    name: b"..".to_vec(),
                    node: self.dir.clone(),
                    next: 2,
                },
                k => match usize::try_from(k - 2)
                    .ok()
                    .and_then(|i| self.entries.get(i))
                {
                    Some((name, node)) => Entry {
                        name: name.clone(),
                        node: node.clone(),
                        next: k + 1,
                    },
                    None => break,
                },
            };
            off = entry.next;
            out.push(entry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_client::NodeKind;

    fn node(ino: u64) -> Node {
        Node {
            ino,
            kind: NodeKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            atime_ns: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            nlink: 1,
            etag: String::new(),
            content_type: String::new(),
            user_meta: Default::default(),
            headers: Default::default(),
            replicas: 0,
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

    #[test]
    fn offsets_are_stable_and_invalid_names_hidden() {
        let mut l = Listing::new(node(1));
        assert!(l.needs_page(1));
        l.add_page(
            vec![
                (b"a".to_vec(), node(2)),
                (b"bad/name".to_vec(), node(3)),
                (b"c".to_vec(), node(4)),
            ],
            true,
        );
        assert_eq!(l.cursor(), b"c");
        l.add_page(vec![(b"d".to_vec(), node(5))], false);
        assert!(!l.needs_page(100));
        let all = l.entries_from(0, 100);
        let names: Vec<&[u8]> = all.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, vec![&b"."[..], b"..", b"a", b"c", b"d"]);
        // Resuming at an entry's `next` gives the entries after it.
        let rest = l.entries_from(all[2].next, 100);
        assert_eq!(rest[0].name, b"c");
        assert_eq!(rest.len(), 2);
        assert!(l.entries_from(all[4].next, 100).is_empty());
        assert_eq!(l.entries_from(0, 2).len(), 2);
    }
}
