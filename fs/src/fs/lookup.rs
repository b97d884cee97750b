//! Names and attributes: lookups (through the entry cache when it holds
//! the answer), getattr and setattr, and the prefetch of a directory's
//! entries. Nothing here changes the namespace.

use super::*;

impl<B: Backend> Fs<B> {
    // ----------------------------------------------------------- namespace

    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<Node> {
        self.lookup_entry(parent, name).await.map(|(node, _)| node)
    }

    /// lookup, and how long the kernel may keep the answer.
    pub async fn lookup_entry(&self, parent: u64, name: &[u8]) -> Result<(Node, Duration)> {
        if name.len() > NAME_MAX {
            return Err(
                ClusterError::NameTooLong(String::from_utf8_lossy(name).into_owned()).into(),
            );
        }
        if let Some(found) = self.lookup_virtual(parent, name).await {
            return found;
        }
        // The top level (buckets) is small and made through S3 mostly.
        if self.entries.enabled() && !is_top(parent) {
            match self.cached_entry(parent, name) {
                Cached::Answer(answer) => return answer,
                Cached::Unknown => {
                    if let Some(found) = self.prefetch(parent, name).await {
                        return found;
                    }
                }
                Cached::Ask => {}
            }
        }
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let node = self
            .ask("lookup", self.backend.lookup(parent, name))
            .await?;
        if is_top(parent) {
            self.record_bucket(node.ino, name);
        }
        self.entries.fill_node(&node, generation, started);
        Ok((self.local(node), TTL))
    }

    /// What the entry cache says of `name` in `parent`.
    pub(super) fn cached_entry(&self, parent: u64, name: &[u8]) -> Cached {
        match self.entries.lookup(parent, name) {
            None => Cached::Unknown,
            Some(Hit::Found(node, left)) if self.open_file(node.ino).is_none() => {
                Cached::Answer(Ok((node, left)))
            }
            // A file open here has a newer local view than the page.
            Some(Hit::Found(..)) => Cached::Ask,
            Some(Hit::Absent) => Cached::Answer(Err(not_found(name))),
        }
    }

    /// lookup answered by the entry cache alone, without waiting (the
    /// node, or ENOENT); None when it takes [`Fs::lookup_entry`]. (The
    /// FUSE adapter answers these on its own thread: no hop to the
    /// runtime.)
    pub fn lookup_cached(&self, parent: u64, name: &[u8]) -> Option<Result<(Node, Duration)>> {
        if name.len() > NAME_MAX
            || is_top(parent)
            || is_virtual(parent)
            || name == crate::version_tree::VERSIONS_DIR
        {
            return None;
        }
        match self.cached_entry(parent, name) {
            Cached::Answer(answer) => Some(answer),
            Cached::Unknown | Cached::Ask => None,
        }
    }

    /// getattr answered by the entry cache alone, as [`Fs::lookup_cached`].
    pub fn getattr_cached(&self, ino: u64) -> Option<(Node, Duration)> {
        if self.open_file(ino).is_some() || is_virtual(ino) {
            return None;
        }
        self.entries.getattr(ino)
    }

    /// A lookup that missed the entry cache: fetches the page of `parent`
    /// that starts at `name` and keeps it. None when the page does not
    /// tell (the MDS refused the listing, or the page ended short of
    /// `name`): then a plain lookup answers.
    pub(super) async fn prefetch(
        &self,
        parent: u64,
        name: &[u8],
    ) -> Option<Result<(Node, Duration)>> {
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let after = just_before(name);
        let page = self
            .ask("lookup", self.backend.readdir(parent, &after, PREFETCH))
            .await
            .ok()?;
        self.entries.fill(parent, after, &page, generation, started);
        let (entries, more) = page;
        let past = !more
            || entries
                .last()
                .is_some_and(|(last, _)| last.as_slice() >= name);
        match entries.into_iter().find(|(n, _)| n == name) {
            Some((_, node)) => Some(Ok((self.local(node), TTL))),
            None if past => Some(Err(not_found(name))),
            None => None,
        }
    }

    pub async fn getattr(&self, ino: u64) -> Result<Node> {
        self.getattr_entry(ino).await.map(|(node, _)| node)
    }

    /// getattr, and how long the kernel may keep the answer.
    pub async fn getattr_entry(&self, ino: u64) -> Result<(Node, Duration)> {
        if let Some(kept) = self.getattr_cached(ino) {
            return Ok(kept);
        }
        if let Some(node) = self.getattr_virtual(ino).await {
            return node.map(|n| (n, TTL));
        }
        let generation = self.entries.generation();
        let started = tokio::time::Instant::now();
        let node = self.ask("getattr", self.backend.getattr(ino)).await?;
        self.entries.fill_node(&node, generation, started);
        let node = self.local(node);
        tracing::debug!(ino, size = node.size, "getattr");
        Ok((node, TTL))
    }

    /// chmod, chown, truncate, utimens. An open file commits its buffered
    /// writes first.
    pub async fn setattr(&self, ino: u64, attr: SetAttr) -> Result<Node> {
        self.refuse_virtual(ino)?;
        if let Some(size) = attr.size {
            if size > crate::open_file::MAX_FILE_SIZE {
                return Err(Error::FileTooBig(format!("size {size}")));
            }
            self.twins.truncated(ino, size);
        }
        match self.retain_open(ino) {
            Some(file) => {
                let result = file.setattr(&self.backend, attr).await;
                self.entries.forget_node(ino);
                let released = self.drop_ref(&file).await;
                let node = result?;
                released?;
                Ok(node)
            }
            None => {
                let node = self
                    .ask("setattr", self.backend.setattr(ino, attr))
                    .await
                    .inspect_err(|_| self.entries.forget_node(ino))?;
                self.entries.put_node(&node);
                Ok(self.local(node))
            }
        }
    }
}
