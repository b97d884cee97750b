//! The S3 metadata over gRPC: access keys and multipart uploads.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_s3_meta_access_keys_and_uploads() {
    use cairn_proto::s3_meta_client::S3MetaClient;
    let s = serve().await;
    let ch = channel(s.addr, &s.cfg, Role::Client).await;
    let mut md = metadata(&ch);
    let mut s3 = S3MetaClient::new(ch.clone());
    md.create_bucket(pb::BucketRequest {
        name: "b".into(),
        owner: String::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    let key = s3
        .create_access_key(pb::CreateAccessKeyRequest {
            name: "app".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((key.key_id.len(), key.secret.len()), (20, 40));
    let half = s3
        .create_access_key(pb::CreateAccessKeyRequest {
            name: "x".into(),
            key_id: "ONLYID".into(),
            secret: String::new(),
            admin: false,
        })
        .await
        .unwrap_err();
    assert_eq!(ClusterError::from_status(&half).errno(), libc::EINVAL);
    let key = s3
        .set_bucket_permission(pb::BucketPermissionRequest {
            key_id: key.key_id.clone(),
            bucket: "b".into(),
            read: true,
            write: true,
            owner: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(key.permissions.len(), 1);
    let fetched = s3
        .get_access_key(pb::AccessKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, key);

    let upload = s3
        .create_upload(pb::CreateUploadRequest {
            bucket: "b".into(),
            key: b"big".to_vec(),
            node: Some(pb::Node {
                content_type: "video/mp4".into(),
                ..Default::default()
            }),
            upload_id: "u-1".into(),
            created_ns: 11,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upload.node.unwrap().content_type, "video/mp4");
    let listed = s3
        .list_uploads(pb::ListUploadsRequest {
            bucket: "b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.uploads.len(), 1);
    s3.abort_upload(pb::UploadRequest {
        upload_id: "u-1".into(),
    })
    .await
    .unwrap();

    // A peer without a certificate is refused and changes nothing.
    let bare = super::without_certificate(s.addr).await;
    let err = S3MetaClient::new(bare)
        .delete_access_key(pb::AccessKeyRequest {
            key_id: key.key_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let keys = s3
        .list_access_keys(pb::Empty {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
}
