//! Read-ahead for one file handle: a reader that goes on where its last
//! read stopped is sequential, and gets a window of committed bytes
//! fetched ahead of it, growing from `MIN_WINDOW` to `MAX_WINDOW`; the next
//! window is fetched in the background while the current one is consumed.
//! A random reader gets exactly what it asked for.
//!
//! Invariant: bytes are served from a window only if it was fetched from
//! the same committed version of the file (`ReadView::version`).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cairn_client::Node;
use tokio::task::JoinHandle;

use crate::{
    backend::Backend,
    error::{Error, Result},
    timed::timed,
};

pub const MIN_WINDOW: u64 = 1 << 20;
pub const MAX_WINDOW: u64 = 16 << 20;

/// Fetched committed bytes `[start, start + len)`, in the pieces they
/// arrived in (not copied together).
struct Window {
    version: u64,
    start: u64,
    len: u64,
    pieces: Vec<Bytes>,
}

impl Window {
    fn new(version: u64, start: u64, pieces: Vec<Bytes>) -> Window {
        let len = pieces.iter().map(|p| p.len() as u64).sum();
        Window {
            version,
            start,
            len,
            pieces,
        }
    }

    fn end(&self) -> u64 {
        self.start + self.len
    }

    /// Copies window bytes from file offset `pos` into `out`; returns how
    /// many.
    fn copy_to(&self, pos: u64, out: &mut [u8]) -> usize {
        let mut skip = pos - self.start;
        let mut done = 0;
        for p in &self.pieces {
            let plen = p.len() as u64;
            if skip >= plen {
                skip -= plen;
                continue;
            }
            let from = skip as usize;
            let n = (p.len() - from).min(out.len() - done);
            out[done..done + n].copy_from_slice(&p[from..from + n]);
            done += n;
            skip = 0;
            if done == out.len() {
                break;
            }
        }
        done
    }

    fn covers(&self, version: u64, pos: u64) -> bool {
        self.version == version && self.start <= pos && pos < self.end()
    }
}

struct Ahead {
    version: u64,
    start: u64,
    task: JoinHandle<Result<Vec<Bytes>>>,
}

/// The read-ahead state of one handle.
pub struct Prefetcher {
    /// Where the previous read ended.
    next: u64,
    window: u64,
    current: Option<Window>,
    ahead: Option<Ahead>,
    /// Reads served from prefetched windows, and all reads (for tests and
    /// metrics).
    pub hits: u64,
    pub reads: u64,
}

impl Default for Prefetcher {
    fn default() -> Self {
        Prefetcher {
            next: 0,
            window: MIN_WINDOW,
            current: None,
            ahead: None,
            hits: 0,
            reads: 0,
        }
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        if let Some(a) = self.ahead.take() {
            a.task.abort();
        }
    }
}

async fn fetch<B: Backend>(
    backend: &B,
    node: &Node,
    start: u64,
    len: u64,
    timeout: Duration,
) -> Result<Vec<Bytes>> {
    timed(timeout, "read", backend.read(node, start, len)).await
}

impl Prefetcher {
    /// Fills `out` with committed bytes of `node` starting at `offset`
    /// (`out` must not reach past `node.size`).
    pub async fn read_into<B: Backend>(
        &mut self,
        backend: &Arc<B>,
        node: &Arc<Node>,
        version: u64,
        offset: u64,
        out: &mut [u8],
        timeout: Duration,
    ) -> Result<()> {
        let len = out.len() as u64;
        self.reads += 1;
        let sequential = offset == self.next
            || self
                .current
                .as_ref()
                .is_some_and(|w| w.covers(version, offset));
        self.next = offset + len;
        if !sequential {
            self.window = MIN_WINDOW;
            let w = Window::new(
                version,
                offset,
                fetch(backend.as_ref(), node, offset, len, timeout).await?,
            );
            if w.copy_to(offset, out) < out.len() {
                return Err(short_read(offset));
            }
            return Ok(());
        }
        let mut pos = offset;
        let end = offset + len;
        let mut served_ahead = true;
        while pos < end {
            if let Some(w) = self.current.as_ref().filter(|w| w.covers(version, pos)) {
                let at = (pos - offset) as usize;
                let n = w.copy_to(pos, &mut out[at..]);
                if n == 0 {
                    return Err(short_read(pos));
                }
                pos += n as u64;
                continue;
            }
            if let Some(a) = self.ahead.take() {
                if a.version == version && a.start == pos {
                    let data = match a.task.await {
                        Ok(r) => r?,
                        Err(e) => {
                            return Err(Error::from(cairn_common::ClusterError::Io(format!(
                                "read-ahead task failed: {e}"
                            ))))
                        }
                    };
                    let w = Window::new(version, pos, data);
                    if w.len == 0 {
                        return Err(short_read(pos));
                    }
                    self.current = Some(w);
                    continue;
                }
                a.task.abort();
            }
            served_ahead = false;
            let want = self
                .window
                .max(end - pos)
                .min(node.size.saturating_sub(pos));
            let w = Window::new(
                version,
                pos,
                fetch(backend.as_ref(), node, pos, want, timeout).await?,
            );
            if w.len == 0 {
                return Err(short_read(pos));
            }
            self.current = Some(w);
        }
        if served_ahead {
            self.hits += 1;
        }
        self.window = (self.window * 2).min(MAX_WINDOW);
        // Keep the next window in flight while this one is read.
        if let Some(w) = &self.current {
            let next_start = w.end();
            if self.ahead.is_none() && next_start < node.size {
                let want = self.window.min(node.size - next_start);
                let backend = Arc::clone(backend);
                let node = Arc::clone(node);
                self.ahead = Some(Ahead {
                    version,
                    start: next_start,
                    task: tokio::spawn(async move {
                        fetch(backend.as_ref(), &node, next_start, want, timeout).await
                    }),
                });
            }
        }
        Ok(())
    }
}

fn short_read(pos: u64) -> Error {
    Error::from(cairn_common::ClusterError::Io(format!(
        "the cluster returned no bytes at offset {pos} inside the file"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_copy_across_their_pieces() {
        let w = Window::new(
            1,
            100,
            vec![
                Bytes::from_static(b"abc"),
                Bytes::from_static(b"defg"),
                Bytes::from_static(b"h"),
            ],
        );
        assert_eq!((w.len, w.end()), (8, 108));
        assert!(w.covers(1, 107) && !w.covers(1, 108) && !w.covers(2, 100));
        let mut out = [0u8; 5];
        assert_eq!(w.copy_to(102, &mut out), 5);
        assert_eq!(&out, b"cdefg");
        let mut out = [0u8; 10];
        assert_eq!(w.copy_to(105, &mut out), 3);
        assert_eq!(&out[..3], b"fgh");
    }
}
