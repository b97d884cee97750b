//! Bytes written through the mount that the file's committed layout does
//! not show yet: the write buffer, and the overlay that makes a read see
//! the file's own writes before they reach the cluster.
//!
//! Invariants: entries never overlap and are never empty; each entry
//! carries the generation of the write that made it, so that once a batch
//! cut at generation `g` is committed, exactly the entries with a
//! generation `<= g` can be dropped (newer writes over the same bytes
//! stay).

use std::collections::BTreeMap;

use bytes::Bytes;

#[derive(Debug, Clone)]
struct Entry {
    data: Bytes,
    gen: u64,
}

/// Non-overlapping written ranges, keyed by file offset.
#[derive(Debug, Default, Clone)]
pub struct DirtyMap {
    entries: BTreeMap<u64, Entry>,
    bytes: u64,
}

impl DirtyMap {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// End of the last range (0 when empty).
    pub fn end(&self) -> u64 {
        self.entries
            .iter()
            .next_back()
            .map_or(0, |(off, e)| off + e.data.len() as u64)
    }

    /// Removes the bytes of `[start, end)` from the entries that hold them,
    /// keeping what lies outside.
    fn punch(&mut self, start: u64, end: u64) {
        let overlapping: Vec<u64> = self
            .entries
            .range(..end)
            .rev()
            .take_while(|(off, e)| **off + e.data.len() as u64 > start)
            .map(|(off, _)| *off)
            .collect();
        for off in overlapping {
            let Some(e) = self.entries.remove(&off) else {
                continue;
            };
            let e_end = off + e.data.len() as u64;
            self.bytes -= e.data.len() as u64;
            if off < start {
                let head = e.data.slice(..(start - off) as usize);
                self.bytes += head.len() as u64;
                self.entries.insert(
                    off,
                    Entry {
                        data: head,
                        gen: e.gen,
                    },
                );
            }
            if e_end > end {
                let tail = e.data.slice((end - off) as usize..);
                self.bytes += tail.len() as u64;
                self.entries.insert(
                    end,
                    Entry {
                        data: tail,
                        gen: e.gen,
                    },
                );
            }
        }
    }

    /// Records a write of `data` at `offset`, replacing older bytes there.
    pub fn insert(&mut self, offset: u64, data: Bytes, gen: u64) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        self.punch(offset, end);
        self.bytes += data.len() as u64;
        self.entries.insert(offset, Entry { data, gen });
    }

    /// Drops every byte at or past `size` (a truncate).
    pub fn truncate(&mut self, size: u64) {
        let end = self.end();
        if end > size {
            self.punch(size, end);
        }
    }

    /// Every range, in file order (cheap: the bytes are shared).
    pub fn segments(&self) -> Vec<(u64, Bytes)> {
        self.entries
            .iter()
            .map(|(off, e)| (*off, e.data.clone()))
            .collect()
    }

    /// The ranges that intersect `[offset, offset + len)`, clipped to it.
    pub fn segments_in(&self, offset: u64, len: u64) -> Vec<(u64, Bytes)> {
        let end = offset.saturating_add(len);
        let mut out: Vec<(u64, Bytes)> = self
            .entries
            .range(..end)
            .rev()
            .take_while(|(off, e)| **off + e.data.len() as u64 > offset)
            .map(|(off, e)| {
                let from = offset.saturating_sub(*off) as usize;
                let to = ((end - off) as usize).min(e.data.len());
                (off + from as u64, e.data.slice(from..to))
            })
            .collect();
        out.reverse();
        out
    }

    /// Drops the entries made by writes of generation `gen` or older.
    pub fn remove_upto(&mut self, gen: u64) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let keep = e.gen > gen;
            if !keep {
                freed += e.data.len() as u64;
            }
            keep
        });
        self.bytes -= freed;
    }
}

/// Copies `segments` (from [`DirtyMap::segments_in`]) over `buf`, which
/// holds the file bytes starting at `offset`.
pub fn overlay(buf: &mut [u8], offset: u64, segments: &[(u64, Bytes)]) {
    for (off, data) in segments {
        let Some(start) = off.checked_sub(offset) else {
            continue;
        };
        let start = start as usize;
        if start >= buf.len() {
            continue;
        }
        let n = data.len().min(buf.len() - start);
        buf[start..start + n].copy_from_slice(&data[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn b(s: &[u8]) -> Bytes {
        Bytes::copy_from_slice(s)
    }

    fn render(map: &DirtyMap, len: usize) -> Vec<u8> {
        let mut buf = vec![b'.'; len];
        overlay(&mut buf, 0, &map.segments_in(0, len as u64));
        buf
    }

    #[test]
    fn later_writes_win_and_outside_bytes_stay() {
        let mut m = DirtyMap::default();
        m.insert(2, b(b"aaaaaa"), 1);
        m.insert(4, b(b"bb"), 2);
        m.insert(0, b(b"cc"), 3);
        assert_eq!(render(&m, 10), b"ccaabbaa..");
        assert_eq!(m.bytes(), 8);
        m.remove_upto(2);
        assert_eq!(render(&m, 10), b"cc........");
        assert_eq!(m.bytes(), 2);
    }

    #[test]
    fn truncate_cuts_inside_an_entry() {
        let mut m = DirtyMap::default();
        m.insert(0, b(b"abcdef"), 1);
        m.insert(10, b(b"xyz"), 1);
        m.truncate(3);
        assert_eq!(render(&m, 12), b"abc.........");
        assert_eq!(m.end(), 3);
        assert_eq!(m.bytes(), 3);
    }

    #[test]
    fn segments_in_clips_to_the_range() {
        let mut m = DirtyMap::default();
        m.insert(0, b(b"0123456789"), 1);
        let s = m.segments_in(3, 4);
        assert_eq!(s, vec![(3, b(b"3456"))]);
        let mut buf = vec![0u8; 4];
        overlay(&mut buf, 3, &s);
        assert_eq!(&buf, b"3456");
        assert!(m.segments_in(10, 5).is_empty());
    }

    #[test]
    fn random_writes_match_a_byte_model() {
        let seed = rand::random::<u64>();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut m = DirtyMap::default();
        let mut model = vec![b'.'; 200];
        for gen in 1..2000u64 {
            if rng.random_range(0..10) == 0 {
                let size = rng.random_range(0..200);
                m.truncate(size as u64);
                for x in &mut model[size..] {
                    *x = b'.';
                }
            } else {
                let off = rng.random_range(0..190);
                let len = rng.random_range(1..(200 - off).min(30));
                let data: Vec<u8> = (0..len).map(|_| rng.random_range(b'a'..=b'z')).collect();
                model[off..off + len].copy_from_slice(&data);
                m.insert(off as u64, Bytes::from(data), gen);
            }
            assert_eq!(render(&m, 200), model, "seed {seed}");
            let held: u64 = m.segments().iter().map(|(_, d)| d.len() as u64).sum();
            assert_eq!(held, m.bytes(), "seed {seed}");
            let segs = m.segments();
            for w in segs.windows(2) {
                assert!(
                    w[0].0 + w[0].1.len() as u64 <= w[1].0,
                    "overlap, seed {seed}"
                );
            }
        }
    }
}
