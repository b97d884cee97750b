//! The `Metadata` service: what clients (the doors, the CLI) call: names,
//! objects, chunks and their writes, the cluster's state.

use super::*;

#[tonic::async_trait]
impl Metadata for MdsService {
    async fn lookup(&self, request: Request<pb::LookupRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let node = self.state.read().await?.lookup(r.parent, &r.name)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn get_attr(&self, request: Request<pb::InoRequest>) -> Reply<pb::Node> {
        let node = self.state.read().await?.inode(request.into_inner().ino)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn set_attr(&self, request: Request<pb::SetAttrRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let change = attr_change_from_pb(&r);
        let command = match r.min_replicas {
            Some(min_replicas) => Command::SetAttrWithMinimum {
                ino: r.ino,
                change,
                min_replicas,
                now_ns: now_ns(),
            },
            None => Command::SetAttr {
                ino: r.ino,
                change,
                now_ns: now_ns(),
            },
        };
        // A truncate changes the content; other attributes show within the
        // mounts' attribute timeout.
        if r.size.is_some() {
            self.node_changing(r.ino, &r.session, command).await
        } else {
            self.node(command).await
        }
    }

    async fn create(&self, request: Request<pb::CreateRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let kind = crate::schema::NodeKind::from_wire(r.kind)?.ok_or_else(|| {
            ClusterError::Invalid("Create needs a kind (file, dir or symlink)".into())
        })?;
        if kind.is_special() {
            return self
                .node(Command::CreateSpecial {
                    parent: r.parent,
                    name: r.name,
                    kind,
                    mode: r.mode,
                    uid: r.uid,
                    gid: r.gid,
                    rdev: r.rdev,
                    now_ns: now_ns(),
                })
                .await;
        }
        let reply = self
            .node(Command::CreateNode {
                parent: r.parent,
                name: r.name,
                kind,
                mode: r.mode,
                uid: r.uid,
                gid: r.gid,
                symlink_target: r.symlink_target,
                exclusive: r.exclusive,
                now_ns: now_ns(),
            })
            .await;
        if let Ok(node) = &reply {
            let node = node.get_ref();
            if node.kind == pb::NodeKind::File as i32 {
                self.state.file_watch.created(node.ino, &r.session);
            }
        }
        reply
    }

    async fn unlink(&self, request: Request<pb::UnlinkRequest>) -> Reply<pb::Empty> {
        self.done(unlink_command(request.into_inner(), now_ns()))
            .await
    }

    async fn unlink_many(
        &self,
        request: Request<pb::UnlinkManyRequest>,
    ) -> Reply<pb::UnlinkManyReply> {
        let r = request.into_inner();
        if r.unlinks.len() > MAX_UNLINK_BATCH {
            return Err(ClusterError::Invalid(format!(
                "{} unlinks in one call; {MAX_UNLINK_BATCH} at most",
                r.unlinks.len()
            ))
            .into());
        }
        if let Some(u) = r.unlinks.iter().find(|u| u.ino == 0) {
            return Err(ClusterError::Invalid(format!(
                "unlink of `{}` in a batch names no inode",
                String::from_utf8_lossy(&u.name)
            ))
            .into());
        }
        let now = now_ns();
        // Submitted together, they share the batcher's entry.
        let outcomes = futures::future::join_all(
            r.unlinks
                .into_iter()
                .map(|u| self.state.submit(unlink_command(u, now))),
        )
        .await;
        let mut reply = pb::UnlinkManyReply::default();
        for outcome in outcomes {
            reply.outcomes.push(match outcome {
                Ok(_) => pb::UnlinkOutcome::default(),
                // Not made, not refused: the caller retries the whole batch
                // (each unlink is conditional, so a retry is safe).
                Err(e @ ClusterError::Unavailable(_)) => return Err(e.into()),
                Err(e) => pb::UnlinkOutcome {
                    errno: e.tag().to_string(),
                    message: e.detail().to_string(),
                },
            });
        }
        Ok(Response::new(reply))
    }

    async fn rmdir(&self, request: Request<pb::NameRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::Rmdir {
            parent: r.parent,
            name: r.name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn rename(&self, request: Request<pb::RenameRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::Rename {
            parent: r.parent,
            name: r.name,
            new_parent: r.new_parent,
            new_name: r.new_name,
            no_replace: r.no_replace,
            now_ns: now_ns(),
        })
        .await
    }

    async fn link(&self, request: Request<pb::LinkRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        self.node(Command::Link {
            ino: r.ino,
            new_parent: r.new_parent,
            new_name: r.new_name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn readlink(&self, request: Request<pb::InoRequest>) -> Reply<pb::ReadlinkReply> {
        let ino = request.into_inner().ino;
        let node: Inode = self.state.read().await?.inode(ino)?;
        if node.kind != crate::schema::NodeKind::Symlink {
            return Err(ClusterError::Invalid(format!("inode {ino} is not a symlink")).into());
        }
        Ok(Response::new(pb::ReadlinkReply {
            target: node.symlink_target,
        }))
    }

    async fn readdir(&self, request: Request<pb::ReaddirRequest>) -> Reply<pb::ReaddirReply> {
        let r = request.into_inner();
        let page = self.state.read().await?.readdir(r.ino, &r.after, r.limit)?;
        let more = page.more;
        Ok(Response::new(pb::ReaddirReply {
            entries: entries(page)
                .into_iter()
                .map(|(name, node)| pb::DirEntry {
                    name,
                    node: Some(node),
                })
                .collect(),
            more,
        }))
    }

    async fn put_key(&self, request: Request<pb::PutKeyRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let object = object_from_pb(&r.node.unwrap_or_default())?;
        let command = match r.protection {
            Some(p) => Command::PutObject {
                bucket: r.bucket,
                key: r.key,
                object,
                protection: crate::convert::protection_from_pb(&p)?,
                if_match: r.if_match,
                if_none_match: r.if_none_match,
                request_id: r.request_id,
                now_ns: now_ns(),
            },
            None => Command::PutKey {
                bucket: r.bucket,
                key: r.key,
                object,
                if_match: r.if_match,
                if_none_match: r.if_none_match,
                request_id: r.request_id,
                now_ns: now_ns(),
            },
        };
        self.node(command).await
    }

    async fn get_key(&self, request: Request<pb::KeyRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        let node = self.state.read().await?.get_key(&r.bucket, &r.key)?;
        Ok(Response::new(node_to_pb(&node)))
    }

    async fn delete_key(&self, request: Request<pb::KeyRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::DeleteKey {
            bucket: r.bucket,
            key: r.key,
            now_ns: now_ns(),
        })
        .await
    }

    async fn list_keys(&self, request: Request<pb::ListKeysRequest>) -> Reply<pb::ListKeysReply> {
        let r = request.into_inner();
        let page =
            self.state
                .read()
                .await?
                .list_keys(&r.bucket, &r.prefix, &r.start_after, r.limit)?;
        let truncated = page.more;
        Ok(Response::new(pb::ListKeysReply {
            entries: entries(page)
                .into_iter()
                .map(|(key, node)| pb::KeyEntry {
                    key,
                    node: Some(node),
                })
                .collect(),
            truncated,
        }))
    }

    async fn create_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Bucket> {
        let r = request.into_inner();
        let bucket: BucketInfo = self
            .state
            .submit_for(if r.object_lock {
                Command::CreateBucketWith {
                    name: r.name,
                    owner: r.owner,
                    object_lock: true,
                    now_ns: now_ns(),
                }
            } else {
                Command::CreateBucket {
                    name: r.name,
                    owner: r.owner,
                    now_ns: now_ns(),
                }
            })
            .await?;
        Ok(Response::new(bucket_to_pb(&bucket)))
    }

    async fn delete_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.done(Command::DeleteBucket {
            name: r.name,
            now_ns: now_ns(),
        })
        .await
    }

    async fn get_bucket(&self, request: Request<pb::BucketRequest>) -> Reply<pb::Bucket> {
        let b = self
            .state
            .read()
            .await?
            .bucket(&request.into_inner().name)?;
        Ok(Response::new(bucket_to_pb(&b)))
    }

    async fn list_buckets(&self, _request: Request<pb::Empty>) -> Reply<pb::ListBucketsReply> {
        let buckets = self.state.read().await?.buckets()?;
        Ok(Response::new(pb::ListBucketsReply {
            buckets: buckets.iter().map(bucket_to_pb).collect(),
        }))
    }

    async fn allocate_chunk(
        &self,
        request: Request<pb::AllocateChunkRequest>,
    ) -> Reply<pb::ChunkLocation> {
        let r = request.into_inner();
        let (chain, minimum, servers) =
            self.place_chunk(r.ino, &r.client_host, &r.avoid, 1).await?;
        let NewChunk(chunk_id, chunk) = self
            .state
            .submit_for(Command::AllocateChunk {
                owner: r.ino,
                chain,
            })
            .await?;
        Ok(Response::new(pb::ChunkLocation {
            min_replicas: minimum,
            ..self.chain(chunk_id, &chunk, &servers)
        }))
    }

    async fn allocate_chunks(
        &self,
        request: Request<pb::AllocateChunksRequest>,
    ) -> Reply<pb::AllocateChunksReply> {
        let r = request.into_inner();
        let (chain, minimum, servers) = self
            .place_chunk(r.ino, &r.client_host, &r.avoid, u64::from(r.count.max(1)))
            .await?;
        let made: Vec<(u64, ChunkInfo)> = self
            .state
            .submit_for(Command::AllocateChunks {
                owner: r.ino,
                chain,
                count: r.count,
            })
            .await?;
        Ok(Response::new(pb::AllocateChunksReply {
            chunks: made
                .iter()
                .map(|(chunk_id, chunk)| pb::ChunkLocation {
                    min_replicas: minimum,
                    ..self.chain(*chunk_id, chunk, &servers)
                })
                .collect(),
        }))
    }

    async fn locate_chunks(
        &self,
        request: Request<pb::LocateChunksRequest>,
    ) -> Reply<pb::LocateChunksReply> {
        let request = request.into_inner();
        let ids = request.chunk_ids;
        let reader = self.state.read().await?;
        // Copy on write for a writer whose next commit may keep a version.
        let keeps_versions =
            request.writer_ino != 0 && reader.rewrite_keeps_version(request.writer_ino)?;
        let servers: BTreeMap<u32, ChunkServerInfo> = reader
            .chunk_servers()?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let now = Instant::now();
        let live = self.state.registry.snapshot();
        let mut chunks = Vec::with_capacity(ids.len());
        for id in ids {
            let chunk = reader.chunk(id)?;
            let min_replicas = self.min_replicas_of(&reader, &chunk);
            let mut location = self.location(id, &chunk, min_replicas, &servers, &live, now);
            location.shared = chunk.shared(keeps_versions);
            chunks.push(location);
        }
        Ok(Response::new(pb::LocateChunksReply { chunks }))
    }

    async fn sync_metadata(&self, _request: Request<pb::Empty>) -> Reply<pb::Empty> {
        self.state.barrier().await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn commit_write(&self, request: Request<pb::CommitWriteRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        // Copies of these chunks wait: an in-place write just landed.
        self.state.heal.touch(
            r.extents
                .iter()
                .map(|e| e.chunk_id)
                .chain(r.chunk_lengths.iter().map(|c| c.chunk_id)),
            Instant::now(),
        );
        let commit = WriteCommit {
            ino: r.ino,
            extents: r
                .extents
                .iter()
                .copied()
                .map(crate::schema::Extent::from)
                .collect(),
            size: r.size,
            etag: r.etag,
            mtime_ns: r.mtime_ns,
            chunk_lengths: r
                .chunk_lengths
                .iter()
                .map(|c| (c.chunk_id, c.length))
                .collect(),
            replace_layout: r.replace_layout,
            continues: r.continues_version,
        };
        let attrs = AttrChange {
            mode: r.mode,
            uid: r.uid,
            gid: r.gid,
            atime_ns: r.atime_ns,
            ..AttrChange::default()
        };
        let command = Command::commit_write(commit, attrs, now_ns());
        self.node_changing(r.ino, &r.session, command).await
    }

    async fn drop_replica(
        &self,
        request: Request<pb::DropReplicaRequest>,
    ) -> Reply<pb::ChunkLocation> {
        let r = request.into_inner();
        tracing::info!(chunk = r.chunk_id, version = r.version, cs = r.cs_id, reason = %r.reason, "replica dropped by a writer");
        self.state.heal.touch([r.chunk_id], Instant::now());
        let NewChunk(chunk_id, chunk) = self
            .state
            .submit_for(Command::DropReplica {
                chunk_id: r.chunk_id,
                version: r.version,
                cs_id: r.cs_id,
            })
            .await?;
        let servers = self.servers_by_id()?;
        let min_replicas = self.min_replicas_of(&self.state.reader()?, &chunk);
        Ok(Response::new(pb::ChunkLocation {
            min_replicas,
            ..self.chain(chunk_id, &chunk, &servers)
        }))
    }

    async fn report_bad_replica(
        &self,
        request: Request<pb::ReportBadReplicaRequest>,
    ) -> Reply<pb::Empty> {
        let r = request.into_inner();
        tracing::warn!(chunk = r.chunk_id, version = r.version, cs = r.cs_id, reason = %r.reason, "bad replica reported: dropping it");
        self.state.events.push(
            format!("cs{}", r.cs_id),
            crate::events::Severity::Error,
            format!("replica of chunk {} failed: {}", r.chunk_id, r.reason),
        );
        self.done(Command::DropBadReplica {
            chunk_id: r.chunk_id,
            version: r.version,
            cs_id: r.cs_id,
        })
        .await
    }

    async fn stat(&self, _request: Request<pb::Empty>) -> Reply<pb::ClusterStat> {
        Ok(Response::new(crate::stat::cluster_stat(&self.state).await?))
    }

    async fn space(&self, _request: Request<pb::Empty>) -> Reply<pb::ClusterSpace> {
        Ok(Response::new(crate::stat::space(&self.state).await?))
    }

    async fn report_client(
        &self,
        request: Request<pb::ClientStat>,
    ) -> Reply<pb::ReportClientReply> {
        self.state.members.check_leader()?;
        let cert = PeerInfo::of_request(&request).and_then(|p| p.cert.clone());
        let mut stat = request.into_inner();
        if let Some(cert) = cert {
            stat.cert_serial = cairn_common::tls::serial_hex(&cert.serial);
            stat.cert_subject = cert.subject;
            stat.cert_not_after = cert.not_after;
        }
        if stat.id.is_empty() || stat.id.len() > 256 || stat.name.len() > 4096 {
            return Err(Status::invalid_argument(
                "a door report needs an id of 1 to 256 bytes and a name of at most 4096",
            ));
        }
        if !self.state.doors.report(stat, Instant::now()) {
            return Err(Status::resource_exhausted(format!(
                "this MDS already follows {} doors",
                crate::doors::MAX_DOORS
            )));
        }
        Ok(Response::new(pb::ReportClientReply {
            revoked_serials: self.state.tls.revoked().serials(),
        }))
    }

    async fn lock(&self, request: Request<pb::LockRequest>) -> Reply<pb::LockReply> {
        self.state.members.check_leader()?;
        Ok(Response::new(
            self.state.locks.call(request.into_inner()).await?,
        ))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Reply<pb::WatchReply> {
        self.state.members.check_leader()?;
        Ok(Response::new(
            self.state.file_watch.watch(request.into_inner()).await?,
        ))
    }

    async fn write_lease(
        &self,
        request: Request<pb::WriteLeaseRequest>,
    ) -> Reply<pb::WriteLeaseReply> {
        self.state.members.check_leader()?;
        Ok(Response::new(
            self.state
                .file_watch
                .write_lease(request.into_inner())
                .await?,
        ))
    }

    async fn remove_cs(&self, request: Request<pb::RemoveCsRequest>) -> Reply<pb::RemoveCsReply> {
        let r = request.into_inner();
        let reader = self.state.read().await?;
        let info = reader.chunk_server(r.cs_id)?.ok_or_else(|| {
            ClusterError::NotFound(format!("chunk server {} is not registered", r.cs_id))
        })?;
        drop(reader);
        if info.state == CsState::Removed {
            return Ok(Response::new(pb::RemoveCsReply {
                state: "removed".into(),
                replicas: 0,
                chunks_lost: 0,
            }));
        }
        if r.force {
            let CsRemoved(lost) = self
                .state
                .submit_for(Command::RemoveCs {
                    cs_id: r.cs_id,
                    force: true,
                })
                .await?;
            self.state.heal.cancel_cs(r.cs_id);
            tracing::warn!(
                cs_id = r.cs_id,
                chunks_lost = lost,
                "chunk server removed by force"
            );
            return Ok(Response::new(pb::RemoveCsReply {
                state: "removed".into(),
                replicas: 0,
                chunks_lost: lost,
            }));
        }
        if info.state != CsState::Draining {
            self.state
                .submit(Command::SetCsDraining {
                    cs_id: r.cs_id,
                    draining: true,
                })
                .await?;
            tracing::info!(cs_id = r.cs_id, "chunk server draining");
        }
        // Already empty: gone at once (otherwise the background work
        // removes it once drained).
        let removed = self
            .state
            .submit(Command::RemoveCs {
                cs_id: r.cs_id,
                force: false,
            })
            .await
            .is_ok();
        let replicas = self.state.read().await?.replica_count(r.cs_id)?;
        Ok(Response::new(pb::RemoveCsReply {
            state: if removed { "removed" } else { "draining" }.into(),
            replicas,
            chunks_lost: 0,
        }))
    }

    async fn revoke_cert(&self, request: Request<pb::RevokeCertRequest>) -> Reply<pb::Empty> {
        self.revoke(request).await
    }

    async fn revoked_certs(&self, _request: Request<pb::Empty>) -> Reply<pb::RevokedCertsReply> {
        self.revoked_list().await
    }

    async fn renew_cert(
        &self,
        request: Request<pb::RenewCertRequest>,
    ) -> Reply<pb::RenewCertReply> {
        self.renew(request).await
    }

    async fn clone_range(&self, request: Request<pb::CloneRangeRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        self.node_changing(
            r.dst,
            &r.session,
            Command::CloneRange {
                src: r.src,
                src_offset: r.src_offset,
                dst: r.dst,
                dst_offset: r.dst_offset,
                length: r.length,
                now_ns: now_ns(),
            },
        )
        .await
    }

    async fn set_etag(&self, request: Request<pb::SetEtagRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        // Only the leader knows the leases.
        self.state.members.check_leader()?;
        if !self.state.file_watch.quiet(r.ino, Instant::now()) {
            return Err(ClusterError::PreconditionFailed(format!(
                "inode {} may be written in place by a mount holding its write lease",
                r.ino
            ))
            .into());
        }
        self.node(Command::SetEtag {
            ino: r.ino,
            etag: r.etag,
            size: r.size,
            mtime_ns: r.mtime_ns,
        })
        .await
    }

    async fn wrote_in_place(&self, request: Request<pb::WroteInPlaceRequest>) -> Reply<pb::Empty> {
        let r = request.into_inner();
        self.state.members.check_leader()?;
        // A hash kept meanwhile would no longer be the file's: the writer
        // commits instead, which makes the ETag stale.
        let node = self.state.read().await?.inode(r.ino)?;
        if !node.etag.is_empty() {
            return Err(ClusterError::PreconditionFailed(format!(
                "inode {} has an ETag: commit the write",
                r.ino
            ))
            .into());
        }
        // Copies of these chunks wait, as after a commit.
        self.state
            .heal
            .touch(r.chunk_ids.iter().copied(), Instant::now());
        self.state.file_watch.changed(r.ino, &r.session);
        Ok(Response::new(pb::Empty {}))
    }

    async fn punch_hole(&self, request: Request<pb::PunchHoleRequest>) -> Reply<pb::Node> {
        let r = request.into_inner();
        self.node_changing(
            r.ino,
            &r.session,
            Command::PunchHole {
                ino: r.ino,
                offset: r.offset,
                length: r.length,
                now_ns: now_ns(),
            },
        )
        .await
    }
}
