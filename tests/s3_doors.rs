//! The two doors see one namespace: an object written through S3 reads
//! through the cluster client library (`cairn_client::Client`, with the
//! config `cairn up` wrote in DIR/etc) as the same bytes, at the same path
//! of the file tree; and a file written through the client library reads
//! through S3 with the same bytes and its MD5 as ETag.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use cairn_client::{ObjectMeta, PutConditions};
use common::s3::*;
use futures::StreamExt;

async fn read_all(client: &cairn_client::Client, node: &cairn_client::Node) -> Vec<u8> {
    let mut out = Vec::with_capacity(node.size as usize);
    let mut stream = std::pin::pin!(client.read(node, 0, node.size));
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.expect("read through the client library"));
    }
    out
}

#[tokio::test]
async fn s3_to_client_library() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let cluster = c.cluster_client();
    let b = bucket_name("s3-to-fs");
    s3.create_bucket().bucket(&b).send().await.expect("create");

    let data = common::pattern(51, (9 << 20) + 77);
    s3.put_object()
        .bucket(&b)
        .key("dir/sub/file.bin")
        .body(ByteStream::from(data.clone()))
        .content_type("application/x-door")
        .send()
        .await
        .expect("put");
    let node = cluster
        .head_object(&b, b"dir/sub/file.bin")
        .await
        .expect("the key is there for the client library");
    assert_eq!(node.size, data.len() as u64);
    assert_eq!(node.etag, md5_hex(&data));
    assert_eq!(node.content_type, "application/x-door");
    assert!(read_all(&cluster, &node).await == data, "same bytes");

    // The same object is a file of the tree: bucket/dir/sub/file.bin.
    let bucket = cluster.get_bucket(&b).await.expect("bucket");
    let dir = cluster.lookup(bucket.ino, b"dir").await.expect("dir");
    let sub = cluster.lookup(dir.ino, b"sub").await.expect("sub");
    let file = cluster.lookup(sub.ino, b"file.bin").await.expect("file");
    assert_eq!(file.ino, node.ino);
    // A range read through the tree's inode.
    let mut part = Vec::new();
    let mut stream = std::pin::pin!(cluster.read(&file, 5_000_000, 1000));
    while let Some(p) = stream.next().await {
        part.extend_from_slice(&p.expect("read"));
    }
    assert!(part == data[5_000_000..5_001_000]);

    // A multipart object too.
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let p1 = common::pattern(52, 5 << 20);
    let p2 = common::pattern(53, 4321);
    let mut parts = Vec::new();
    for (n, d) in [(1, &p1), (2, &p2)] {
        let out = s3
            .upload_part()
            .bucket(&b)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .expect("part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().expect("etag"))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let node = cluster.head_object(&b, b"mp").await.expect("mp");
    let mut want = p1.clone();
    want.extend_from_slice(&p2);
    assert!(read_all(&cluster, &node).await == want);
    assert!(node.etag.ends_with("-2"), "{}", node.etag);

    // Deleted through S3: gone for the client library too.
    s3.delete_object()
        .bucket(&b)
        .key("dir/sub/file.bin")
        .send()
        .await
        .expect("delete");
    assert!(matches!(
        cluster.head_object(&b, b"dir/sub/file.bin").await,
        Err(cairn_client::Error::NotFound(_))
    ));
    assert!(matches!(
        cluster.lookup(sub.ino, b"file.bin").await,
        Err(cairn_client::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn client_library_to_s3() {
    let c = S3Cluster::shared();
    let s3 = c.client();
    let cluster = c.cluster_client();
    let b = bucket_name("fs-to-s3");
    s3.create_bucket().bucket(&b).send().await.expect("create");

    let data = common::pattern(61, (6 << 20) + 5);
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = data
        .chunks(1 << 20)
        .map(|p| Ok(bytes::Bytes::copy_from_slice(p)))
        .collect();
    let mut meta = ObjectMeta {
        content_type: "text/x-from-library".into(),
        ..ObjectMeta::default()
    };
    meta.user_meta
        .insert("origin".into(), "client-library".into());
    let node = cluster
        .put_object(
            &b,
            b"written/by/library.dat",
            futures::stream::iter(pieces),
            meta,
            PutConditions::default(),
        )
        .await
        .expect("put through the client library");
    assert_eq!(node.etag, md5_hex(&data));

    let got = s3
        .get_object()
        .bucket(&b)
        .key("written/by/library.dat")
        .send()
        .await
        .expect("get through S3");
    assert_eq!(
        got.e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(got.content_type(), Some("text/x-from-library"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("client-library")
    );
    assert!(body_bytes(got).await == data, "same bytes");
    let listed = s3
        .list_objects_v2()
        .bucket(&b)
        .prefix("written/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["written/by/library.dat"]);
    assert_eq!(listed.contents()[0].size(), Some(data.len() as i64));
    let ranged = s3
        .get_object()
        .bucket(&b)
        .key("written/by/library.dat")
        .range("bytes=1048570-1048585")
        .send()
        .await
        .expect("range across the library's pieces");
    assert!(body_bytes(ranged).await == data[1_048_570..1_048_586]);

    // Replaced through the client library: S3 sees the new object.
    cluster
        .put_object(
            &b,
            b"written/by/library.dat",
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"v2"))]),
            ObjectMeta::default(),
            PutConditions::default(),
        )
        .await
        .expect("overwrite");
    let got = s3
        .get_object()
        .bucket(&b)
        .key("written/by/library.dat")
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(got).await, b"v2");
}
