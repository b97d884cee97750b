//! Read-ahead for one file handle: a reader that goes on where its last
//! read stopped is sequential, and gets a window of committed bytes
//! fetched ahead of it, growing from `MIN_WINDOW` to `MAX_WINDOW`; the next
//! window is fetched in the background while the current one is consumed.
//! A random reader gets exactly what it asked for.
//!
//! Invariant: bytes are served from a window only if it was fetched from
//! the same committed version of the file (`ReadView::version`).

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use cairn_client::Node;
use tokio::task::JoinHandle;

use crate::{
    backend::Backend,
    error::{Error, Result},
    timed::timed,
};

pub const MIN_WINDOW: u64 = 1 << 20;
pub const MAX_WINDOW: u64 = 16 << 20;

struct Window {
    version: u64,
    start: u64,
    data: Bytes,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    fn covers(&self, version: u64, pos: u64) -> bool {
        self.version == version && self.start <= pos && pos < self.end()
    }
}

struct Ahead {
    version: u64,
    start: u64,
    task: JoinHandle<Result<Bytes>>,
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

fn concat(pieces: Vec<Bytes>) -> Bytes {
    if pieces.len() == 1 {
        return pieces.into_iter().next().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        out.extend_from_slice(&p);
    }
    out.freeze()
}

async fn fetch<B: Backend>(
    backend: &B,
    node: &Node,
    start: u64,
    len: u64,
    timeout: Duration,
) -> Result<Bytes> {
    let pieces = timed(timeout, "read", backend.read(node, start, len)).await?;
    Ok(concat(pieces))
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
            let data = fetch(backend.as_ref(), node, offset, len, timeout).await?;
            copy_exact(out, &data, offset)?;
            return Ok(());
        }
        let mut pos = offset;
        let end = offset + len;
        let mut served_ahead = true;
        while pos < end {
            if let Some(w) = self.current.as_ref().filter(|w| w.covers(version, pos)) {
                let from = (pos - w.start) as usize;
                let n = ((w.end() - pos) as usize).min((end - pos) as usize);
                let at = (pos - offset) as usize;
                out[at..at + n].copy_from_slice(&w.data[from..from + n]);
                pos += n as u64;
                continue;
            }
            if let Some(a) = self.ahead.take() {
                if a.version == version && a.start == pos {
                    let data = match a.task.await {
                        Ok(r) => r?,
                        Err(e) => {
                            return Err(Error::from(cairn_common::FsError::Io(format!(
                                "read-ahead task failed: {e}"
                            ))))
                        }
                    };
                    if data.is_empty() {
                        return Err(short_read(pos));
                    }
                    self.current = Some(Window {
                        version,
                        start: pos,
                        data,
                    });
                    continue;
                }
                a.task.abort();
            }
            served_ahead = false;
            let want = self
                .window
                .max(end - pos)
                .min(node.size.saturating_sub(pos));
            let data = fetch(backend.as_ref(), node, pos, want, timeout).await?;
            if data.is_empty() {
                return Err(short_read(pos));
            }
            self.current = Some(Window {
                version,
                start: pos,
                data,
            });
        }
        if served_ahead {
            self.hits += 1;
        }
        self.window = (self.window * 2).min(MAX_WINDOW);
        // Keep the next window coming while this one is read.
        if let Some(w) = &self.current {
            let next_start = w.end();
            let left = next_start.saturating_sub(end);
            if self.ahead.is_none() && left < self.window / 2 && next_start < node.size {
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
    Error::from(cairn_common::FsError::Io(format!(
        "the cluster returned no bytes at offset {pos} inside the file"
    )))
}

fn copy_exact(out: &mut [u8], data: &[u8], offset: u64) -> Result<()> {
    if data.len() < out.len() {
        return Err(Error::from(cairn_common::FsError::Io(format!(
            "short read at offset {offset}: {} of {} bytes",
            data.len(),
            out.len()
        ))));
    }
    out.copy_from_slice(&data[..out.len()]);
    Ok(())
}
