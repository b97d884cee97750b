//! The Metadata service over gRPC, and the cluster credential it asks for.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metadata_and_auth() {
    let mut s = serve().await;
    let ch = channel(s.addr, &s.cfg, Role::Client).await;
    let mut md = metadata(&ch);

    let bucket = md
        .create_bucket(pb::BucketRequest {
            name: "photos".into(),
            owner: "AKID".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bucket.name, "photos");
    let again = md
        .create_bucket(pb::BucketRequest {
            name: "photos".into(),
            owner: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(
        ClusterError::from_status(&again),
        ClusterError::Exists(_)
    ));

    let put = md
        .put_key(pb::PutKeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
            node: Some(pb::Node {
                size: 0,
                etag: "abc".into(),
                content_type: "image/jpeg".into(),
                user_meta: [("who".to_string(), "tom".to_string())].into(),
                ..Default::default()
            }),
            if_match: None,
            if_none_match: Some("*".into()),
            request_id: 7,
            protection: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.kind, pb::NodeKind::File as i32);
    let got = md
        .get_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.ino, got.content_type.as_str()),
        (put.ino, "image/jpeg")
    );
    assert_eq!(got.user_meta.get("who").map(String::as_str), Some("tom"));
    // The same object through the POSIX door.
    let dir = md
        .lookup(pb::LookupRequest {
            parent: bucket.ino,
            name: b"2024".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dir.kind, pb::NodeKind::Dir as i32);
    let listing = md
        .readdir(pb::ReaddirRequest {
            ino: dir.ino,
            after: vec![],
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].name, b"cat.jpg");
    // A file made through the POSIX door shows in the key listing.
    let made = md
        .create(pb::CreateRequest {
            parent: dir.ino,
            name: b"dog.jpg".to_vec(),
            kind: pb::NodeKind::File as i32,
            mode: 0o644,
            exclusive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys = md
        .list_keys(pb::ListKeysRequest {
            bucket: "photos".into(),
            prefix: b"2024/".to_vec(),
            start_after: vec![],
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&[u8]> = keys.entries.iter().map(|e| e.key.as_slice()).collect();
    assert_eq!(
        names,
        vec![b"2024/cat.jpg".as_slice(), b"2024/dog.jpg".as_slice()]
    );
    assert_eq!(keys.entries[1].node.as_ref().unwrap().ino, made.ino);
    assert!(!keys.truncated);
    // Errnos cross the wire.
    let err = md
        .rmdir(pb::NameRequest {
            parent: bucket.ino,
            name: b"2024".to_vec(),
        })
        .await
        .unwrap_err();
    assert!(matches!(
        ClusterError::from_status(&err),
        ClusterError::NotEmpty(_)
    ));
    let err = md
        .get_attr(pb::InoRequest { ino: 999_999 })
        .await
        .unwrap_err();
    assert_eq!(ClusterError::from_status(&err).errno(), libc::ENOENT);
    let root = md
        .get_attr(pb::InoRequest { ino: ROOT_INO })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(root.kind, pb::NodeKind::Dir as i32);

    // A peer without a certificate gets through the handshake (for Join
    // only) and is refused every other call before a handler runs.
    let bare = super::without_certificate(s.addr).await;
    let mut md_bare = metadata(&bare);
    let err = md_bare
        .create_bucket(pb::BucketRequest {
            name: "evil".into(),
            owner: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    assert_eq!(
        md_bare.list_buckets(pb::Empty {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // A client of the cluster may not pose as a chunk server.
    let err = admin(&ch)
        .register_cs(pb::RegisterCsRequest {
            host: "h".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    // Nor speak raft.
    let err = pb::mds_raft_client::MdsRaftClient::new(ch.clone())
        .vote(pb::RaftBytes { data: Vec::new() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    let buckets = md
        .list_buckets(pb::Empty {})
        .await
        .unwrap()
        .into_inner()
        .buckets;
    assert_eq!(
        buckets.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        vec!["photos"]
    );
    assert!(md
        .get_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .is_ok());
    let stat = md.stat(pb::Empty {}).await.unwrap().into_inner();
    assert!(
        stat.chunk_servers.is_empty(),
        "the forged RegisterCs did nothing"
    );

    // Join: the one service open to a peer without a certificate checks
    // the password itself, and signs only the public key asked for.
    let mut join = JoinClient::new(bare.clone());
    let (key, csr_pem) = cairn_common::node_cert::node_request().unwrap();
    let reply = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: PASSWORD.into(),
            certs: vec![pb::NodeCertRequest {
                role: "cs".into(),
                csr_pem,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.cluster_id, s.cfg.cluster_id);
    assert_eq!(reply.chunk_size, 1 << 20);
    assert_eq!(reply.mds_addrs, s.cfg.mds_addrs);
    assert_eq!(reply.cert_pems.len(), 1);
    let leaf = cairn_common::pki::not_after(&reply.cert_pems[0]);
    assert!(leaf.is_some(), "a certificate came back");
    let der = cairn_common::pki::first_cert_der(&reply.cert_pems[0]).unwrap();
    assert_eq!(
        cairn_common::node_cert::peer_role(&der, &s.cfg.cluster_id),
        Ok(Role::Cs)
    );
    assert!(reply.ca_pem.contains("BEGIN CERTIFICATE"));
    drop(key);
    let started = std::time::Instant::now();
    let err = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: "wrong".into(),
            certs: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "a wrong password is slowed down"
    );

    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.server)
        .await
        .expect("server stops on shutdown")
        .unwrap()
        .unwrap();
}
