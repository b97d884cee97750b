//! The Metadata service over gRPC, and the cluster credential it asks for.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metadata_and_auth() {
    let mut s = serve().await;
    let ch = channel(s.addr).await;
    let mut md = metadata(&ch, s.cfg.auth());

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

    // A wrong secret is refused before any handler runs, and changes nothing.
    let mut forged = metadata(
        &ch,
        ClusterAuth::new(s.cfg.cluster_id.clone(), vec![0u8; 32]),
    );
    let err = forged
        .create_bucket(pb::BucketRequest {
            name: "evil".into(),
            owner: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = forged
        .delete_key(pb::KeyRequest {
            bucket: "photos".into(),
            key: b"2024/cat.jpg".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // No credential at all.
    let mut bare = MetadataClient::new(ch.clone());
    assert_eq!(
        bare.list_buckets(pb::Empty {}).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut forged_admin = admin(
        &ch,
        ClusterAuth::new(s.cfg.cluster_id.clone(), b"nope".to_vec()),
    );
    assert_eq!(
        forged_admin
            .register_cs(pb::RegisterCsRequest {
                host: "h".into(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
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

    // Join: the one open service checks the password itself.
    let mut join = JoinClient::new(ch.clone());
    let reply = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.cluster_id, s.cfg.cluster_id);
    assert_eq!(hex::encode(&reply.secret), s.cfg.secret);
    assert_eq!(reply.chunk_size, 1 << 20);
    assert_eq!(reply.mds_addrs, s.cfg.mds_addrs);
    let started = std::time::Instant::now();
    let err = join
        .auth_node(pb::AuthNodeRequest {
            cluster_name: "test".into(),
            password: "wrong".into(),
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
