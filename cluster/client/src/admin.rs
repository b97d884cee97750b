//! Administration of healing, for the CLI: removing chunk servers, the
//! replica count and tier of a path (a bucket, directory or object), and
//! waiting for the cluster to be healthy.
//!
//! Paths are `BUCKET[/KEY]`, as the object commands take them. A key names
//! an object, a directory marker (`dir/`) or a directory of the tree (also
//! an implicit one, made by a key below it).

use std::{
    collections::{BTreeSet, VecDeque},
    time::{Duration, Instant},
};

use cairn_common::ClusterError;
use cairn_proto as pb;
use futures::{stream, StreamExt, TryStreamExt};

use crate::{retry::Retry, Client, ClusterStat, Node, NodeKind, SetAttr};

/// What `rm-cs` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveCs {
    /// `draining` (copies under way) or `removed`.
    pub state: String,
    /// Replicas the chunk map still places on it.
    pub replicas: u64,
    /// With force: chunks left without any replica.
    pub chunks_lost: u64,
}

/// What a change of replica count or tier reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrsChanged {
    /// Inodes changed (the path itself, and with `recursive` everything
    /// below it).
    pub nodes: u64,
}

/// SetAttr calls in flight at once during a recursive change: enough to
/// hide the round trips, few enough not to crowd the MDS's committer.
const PARALLEL_SETATTRS: usize = 16;
/// Entries per Readdir/ListKeys page while walking a tree.
const PAGE: u32 = 1000;

impl Client {
    /// Starts draining chunk server `cs_id` (or, with `force`, removes it at
    /// once). A drain returns at once; poll [`Client::stat`] or call again
    /// to follow it.
    pub async fn remove_cs(&self, cs_id: u32, force: bool) -> Result<RemoveCs, ClusterError> {
        let req = pb::RemoveCsRequest { cs_id, force };
        let r = self
            .inner
            .mds
            .metadata(Retry::Idempotent, req, |mut m, r| async move {
                m.remove_cs(r).await
            })
            .await?;
        Ok(RemoveCs {
            state: r.state,
            replicas: r.replicas,
            chunks_lost: r.chunks_lost,
        })
    }

    /// The inode at `BUCKET[/KEY]`.
    pub async fn resolve_path(&self, path: &str) -> Result<Node, ClusterError> {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            // The root: its attributes are the cluster's defaults.
            return self.getattr(cairn_common::ROOT_INO).await;
        }
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(ClusterError::Invalid(format!("`{path}` names no bucket")));
        }
        let b = self.get_bucket(bucket).await?;
        if key.is_empty() {
            return self.getattr(b.ino).await;
        }
        // An object or an explicit directory has a key...
        match self.head_object(bucket, key.as_bytes()).await {
            Ok(n) => return Ok(n),
            Err(ClusterError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let trimmed = key.trim_end_matches('/');
        if !key.ends_with('/') {
            match self
                .head_object(bucket, format!("{trimmed}/").as_bytes())
                .await
            {
                Ok(n) => return Ok(n),
                Err(ClusterError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // ...an implicit directory only a path.
        let mut ino = b.ino;
        let mut node = None;
        for segment in trimmed.split('/') {
            let n = self.lookup(ino, segment.as_bytes()).await?;
            ino = n.ino;
            node = Some(n);
        }
        node.ok_or_else(|| ClusterError::NotFound(path.to_string()))
    }

    /// Sets the wanted replica counts (`normal[:minimum]`) and/or tier of
    /// the inode at `path` (what is created below a directory or bucket
    /// inherits them; `/` is the root, whose attributes every new bucket
    /// takes); with `recursive`, of everything below it too. The MDS then
    /// brings the existing chunks to the new count and tier in the
    /// background.
    pub async fn set_path_attrs(
        &self,
        path: &str,
        replicas: Option<cairn_common::replicas::ReplicaSpec>,
        tier: Option<u32>,
        recursive: bool,
    ) -> Result<AttrsChanged, ClusterError> {
        let root = self.resolve_path(path).await?;
        let attr = SetAttr {
            replicas: replicas.map(|r| r.normal),
            // A count without a minimum takes the default minimum.
            min_replicas: replicas.map(|r| r.minimum.unwrap_or(0)),
            tier,
            ..SetAttr::default()
        };
        self.setattr(root.ino, attr.clone()).await?;
        let mut changed = AttrsChanged { nodes: 1 };
        if !recursive || root.kind != NodeKind::Dir {
            return Ok(changed);
        }
        // The tree below, directories included (implicit ones too).
        let mut seen: BTreeSet<u64> = BTreeSet::from([root.ino]);
        let mut dirs: VecDeque<u64> = VecDeque::from([root.ino]);
        while let Some(dir) = dirs.pop_front() {
            let mut after: Vec<u8> = Vec::new();
            loop {
                let (entries, more) = self.readdir(dir, &after, PAGE).await?;
                if let Some((name, _)) = entries.last() {
                    after = name.clone();
                }
                let fresh: Vec<Node> = entries
                    .into_iter()
                    .map(|(_, n)| n)
                    .filter(|n| seen.insert(n.ino))
                    .collect();
                for n in &fresh {
                    if n.kind == NodeKind::Dir {
                        dirs.push_back(n.ino);
                    }
                }
                changed.nodes += self.set_all(&fresh, &attr).await?;
                if !more {
                    break;
                }
            }
        }
        // Objects whose keys are not paths live only in the key index.
        let bucket = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let prefix = match path.trim_start_matches('/').split_once('/') {
            Some((_, key)) if !key.trim_end_matches('/').is_empty() => {
                format!("{}/", key.trim_end_matches('/'))
            }
            _ => String::new(),
        };
        let mut after: Vec<u8> = Vec::new();
        loop {
            let (entries, truncated) = self
                .list_objects(bucket, prefix.as_bytes(), &after, PAGE)
                .await?;
            if let Some((key, _)) = entries.last() {
                after = key.clone();
            }
            let fresh: Vec<Node> = entries
                .into_iter()
                .map(|(_, n)| n)
                .filter(|n| seen.insert(n.ino))
                .collect();
            changed.nodes += self.set_all(&fresh, &attr).await?;
            if !truncated {
                break;
            }
        }
        Ok(changed)
    }

    async fn set_all(&self, nodes: &[Node], attr: &SetAttr) -> Result<u64, ClusterError> {
        stream::iter(nodes.iter().map(|n| {
            let attr = attr.clone();
            async move {
                match self.setattr(n.ino, attr).await {
                    Ok(_) => Ok(1),
                    // Deleted meanwhile: nothing to change.
                    Err(ClusterError::NotFound(_)) => Ok(0),
                    Err(e) => Err(e),
                }
            }
        }))
        .buffer_unordered(PARALLEL_SETATTRS)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await
    }

    /// Polls the cluster's state every `every` until it is healthy (every
    /// committed chunk has its wanted live replicas on distinct hosts,
    /// nothing being copied) or `timeout` passes; `progress` sees each
    /// sample. Returns the last sample and whether it was healthy.
    pub async fn wait_healthy(
        &self,
        timeout: Duration,
        every: Duration,
        mut progress: impl FnMut(&ClusterStat),
    ) -> Result<(ClusterStat, bool), ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            let stat = self.stat().await?;
            progress(&stat);
            if stat.healthy {
                return Ok((stat, true));
            }
            if Instant::now() + every > deadline {
                return Ok((stat, false));
            }
            tokio::time::sleep(every).await;
        }
    }
}
