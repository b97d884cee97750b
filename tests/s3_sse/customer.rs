//! SSE-C: the customer's key on every request, its errors, copies.

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use md5::{Digest, Md5};

use super::common::s3::*;
use super::{cluster, plain_client, MIB};

/// A customer key as the SDK sends it.
pub struct Key {
    pub b64: String,
    pub md5: String,
}

impl Key {
    pub fn random() -> Key {
        Key::of(rand::random::<[u8; 32]>())
    }

    fn of(raw: [u8; 32]) -> Key {
        let b64 = base64::engine::general_purpose::STANDARD;
        Key {
            b64: b64.encode(raw),
            md5: b64.encode(Md5::digest(raw)),
        }
    }

    pub async fn put(&self, s3: &aws_sdk_s3::Client, b: &str, key: &str, data: Vec<u8>) {
        let out = s3
            .put_object()
            .bucket(b)
            .key(key)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&self.b64)
            .sse_customer_key_md5(&self.md5)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("PUT with SSE-C");
        assert_eq!(out.sse_customer_algorithm(), Some("AES256"));
        assert_eq!(out.sse_customer_key_md5(), Some(self.md5.as_str()));
        // SSE-C's ETag is not the plaintext's MD5.
        assert_ne!(
            out.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
    }

    pub async fn get(
        &self,
        s3: &aws_sdk_s3::Client,
        b: &str,
        key: &str,
    ) -> Result<Vec<u8>, String> {
        let out = s3
            .get_object()
            .bucket(b)
            .key(key)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&self.b64)
            .sse_customer_key_md5(&self.md5)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(out.sse_customer_key_md5(), Some(self.md5.as_str()));
        Ok(body_bytes(out).await)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_c_right_key_wrong_key_no_key() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-c").await;
    let key = Key::random();
    let data = common_pattern(2 * MIB + 77);
    key.put(&s3, &b, "obj", data.clone()).await;
    assert_eq!(
        key.get(&s3, &b, "obj").await.expect("GET with the key"),
        data
    );
    // HEAD and a range with the key.
    let head = s3
        .head_object()
        .bucket(&b)
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .expect("HEAD with the key");
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.sse_customer_algorithm(), Some("AES256"));
    let ranged = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .range("bytes=70000-1500000")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .expect("ranged GET with the key");
    assert_eq!(body_bytes(ranged).await, data[70000..=1500000]);
    // Without the key: 400 InvalidRequest; with another: 403 AccessDenied.
    let none = s3.get_object().bucket(&b).key("obj").send().await;
    assert_code(&none, "InvalidRequest");
    assert_eq!(error_status(&none), 400);
    let head_none = s3.head_object().bucket(&b).key("obj").send().await;
    assert_eq!(error_status(&head_none), 400);
    let other = Key::random();
    let wrong = s3
        .get_object()
        .bucket(&b)
        .key("obj")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other.b64)
        .sse_customer_key_md5(&other.md5)
        .send()
        .await;
    assert_code(&wrong, "AccessDenied");
    assert_eq!(error_status(&wrong), 403);
    // A key whose MD5 is not the one given, a short key, another algorithm.
    let mismatch = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&other.md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&mismatch, "InvalidArgument");
    let short = Key {
        b64: base64::engine::general_purpose::STANDARD.encode([1u8; 16]),
        md5: base64::engine::general_purpose::STANDARD.encode(Md5::digest([1u8; 16])),
    };
    let short_put = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&short.b64)
        .sse_customer_key_md5(&short.md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&short_put, "InvalidArgument");
    let algorithm = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .sse_customer_algorithm("AES128")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&algorithm, "InvalidEncryptionAlgorithmError");
    // The key of a plain object does not apply.
    put_bytes(&s3, &b, "plain", b"plain").await;
    assert!(key.get(&s3, &b, "plain").await.is_err());
    // Over plain HTTP, SSE-C is refused before anything is stored.
    let plain = plain_client(&c);
    let insecure = plain
        .put_object()
        .bucket(&b)
        .key("insecure")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(&insecure, "InvalidRequest");
    assert_code(
        &s3.head_object().bucket(&b).key("insecure").send().await,
        "NotFound",
    );
    // Multipart with SSE-C is not built yet: refused, never plaintext.
    let upload = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await;
    assert_code(&upload, "NotImplemented");
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_c_copies_need_the_source_key() {
    let c = cluster();
    let s3 = c.client();
    let b = new_bucket(&s3, "sse-c-copy").await;
    let (k1, k2) = (Key::random(), Key::random());
    let data = common_pattern(MIB + 5);
    k1.put(&s3, &b, "src", data.clone()).await;
    let no_source_key = s3
        .copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{b}/src"))
        .send()
        .await;
    assert_code(&no_source_key, "InvalidRequest");
    // Re-encrypted under another customer key.
    s3.copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{b}/src"))
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k1.b64)
        .copy_source_sse_customer_key_md5(&k1.md5)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2.b64)
        .sse_customer_key_md5(&k2.md5)
        .send()
        .await
        .expect("copy SSE-C to SSE-C");
    assert_eq!(
        k2.get(&s3, &b, "dst").await.expect("GET with the new key"),
        data
    );
    assert!(k1.get(&s3, &b, "dst").await.is_err());
    // And out to a plain object.
    s3.copy_object()
        .bucket(&b)
        .key("plain")
        .copy_source(format!("{b}/dst"))
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k2.b64)
        .copy_source_sse_customer_key_md5(&k2.md5)
        .send()
        .await
        .expect("copy SSE-C to plain");
    assert_eq!(get_bytes(&s3, &b, "plain").await, data);
}

fn common_pattern(len: usize) -> Vec<u8> {
    super::common::pattern(len as u64, len)
}
