//! The block codec: round trips at every size boundary, ranged opens,
//! tamper detection, nonce and key uniqueness.

use bytes::Bytes;
use cairn_common::ClusterError;
use futures::{executor::block_on, stream, TryStreamExt};
use md5::{Digest, Md5};

use super::*;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn key(salt: u8) -> DataKey {
    DataKey::for_customer(&[7u8; 32], &[salt; 32]).expect("key")
}

/// Seals `plain` (given in pieces of `piece` bytes) with `key`.
fn seal(plain: &[u8], piece: usize, key: DataKey, part: u32) -> (Vec<u8>, SealedDigest) {
    let pieces: Vec<Result<Bytes, ClusterError>> = plain
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let digest = SealedDigest::default();
    let sealed: Vec<Bytes> = block_on(
        seal_stream(stream::iter(pieces), key, part, digest.clone()).try_collect::<Vec<Bytes>>(),
    )
    .expect("seal");
    (sealed.concat(), digest)
}

/// Opens plaintext range `[offset, offset + len)` of `stored`.
fn open(
    stored: &[u8],
    plain_size: u64,
    offset: u64,
    len: u64,
    key: DataKey,
    part: u32,
) -> Result<Vec<u8>, ClusterError> {
    let span = stored_span(offset, len, plain_size);
    let start = span.stored_offset as usize;
    let end = start + span.stored_len as usize;
    // Hand the stored bytes over in odd pieces, as a network would.
    let pieces: Vec<Result<Bytes, ClusterError>> = stored[start..end.min(stored.len())]
        .chunks(7777)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let out: Vec<Bytes> =
        block_on(open_blocks(stream::iter(pieces), key, part, span).try_collect())?;
    Ok(out.concat())
}

#[test]
fn round_trip_at_every_block_boundary() {
    for len in [
        0,
        1,
        BLOCK - 1,
        BLOCK,
        BLOCK + 1,
        2 * BLOCK - 1,
        2 * BLOCK,
        2 * BLOCK + 1,
        5 * BLOCK + 333,
    ] {
        let plain = pattern(len, 3);
        for piece in [1000, BLOCK, 3 * BLOCK + 5] {
            let (stored, digest) = seal(&plain, piece, key(1), 0);
            assert_eq!(
                stored.len() as u64,
                sealed_size(len as u64),
                "stored size of {len}"
            );
            let (size, md5) = digest.get().expect("digest after the stream");
            assert_eq!(size, len as u64);
            assert_eq!(md5, hex::encode(Md5::digest(&plain)));
            let back = open(&stored, len as u64, 0, len as u64, key(1), 0).expect("open");
            assert_eq!(
                back, plain,
                "round trip of {len} bytes in pieces of {piece}"
            );
        }
    }
}

#[test]
fn ranges_open_only_what_they_cover() {
    let len = 4 * BLOCK + 100;
    let plain = pattern(len, 9);
    let (stored, _) = seal(&plain, 50_000, key(2), 3);
    let b = BLOCK as u64;
    for (offset, want) in [
        (0, 1),
        (0, b),
        (1, b),
        (b - 1, 2),
        (b, b),
        (b + 10, 2 * b),
        (3 * b + 7, 200),
        (4 * b, 100),
        (4 * b + 99, 1),
        (2 * b, 10 * b),
    ] {
        let back = open(&stored, len as u64, offset, want, key(2), 3).expect("ranged open");
        let end = (offset + want).min(len as u64) as usize;
        assert_eq!(back, plain[offset as usize..end], "range {offset}+{want}");
        let span = stored_span(offset, want, len as u64);
        assert!(
            span.stored_len
                <= (end as u64 - offset).div_ceil(b) * SEALED_BLOCK as u64 + SEALED_BLOCK as u64
        );
    }
    assert!(open(&stored, len as u64, len as u64, 10, key(2), 3)
        .expect("empty range")
        .is_empty());
}

#[test]
fn a_flipped_bit_is_an_error_never_wrong_plaintext() {
    let len = 3 * BLOCK + 17;
    let plain = pattern(len, 5);
    let (stored, _) = seal(&plain, BLOCK, key(3), 0);
    for at in [
        0,
        100,
        BLOCK,
        BLOCK + 3,
        SEALED_BLOCK,
        stored.len() - 1,
        stored.len() - TAG - 1,
    ] {
        let mut bad = stored.clone();
        bad[at] ^= 0x10;
        let result = open(&bad, len as u64, 0, len as u64, key(3), 0);
        match result {
            Err(ClusterError::Io(msg)) => assert!(msg.contains("authenticate"), "{msg}"),
            other => panic!(
                "a flipped bit at {at} was not refused: {:?}",
                other.map(|v| v.len())
            ),
        }
    }
    // The wrong key, the wrong part, blocks swapped and a truncation fail too.
    assert!(open(&stored, len as u64, 0, len as u64, key(4), 0).is_err());
    assert!(open(&stored, len as u64, 0, len as u64, key(3), 1).is_err());
    let mut swapped = stored.clone();
    swapped[..SEALED_BLOCK].copy_from_slice(&stored[SEALED_BLOCK..2 * SEALED_BLOCK]);
    swapped[SEALED_BLOCK..2 * SEALED_BLOCK].copy_from_slice(&stored[..SEALED_BLOCK]);
    assert!(open(&swapped, len as u64, 0, len as u64, key(3), 0).is_err());
    let short = &stored[..stored.len() - 5];
    assert!(open(short, len as u64, 0, len as u64, key(3), 0).is_err());
    let cut = &stored[..2 * SEALED_BLOCK];
    assert!(open(cut, len as u64, 0, len as u64, key(3), 0).is_err());
}

#[test]
fn nonces_and_keys_are_unique_across_blocks_and_objects() {
    // The same plaintext in every block: distinct nonces give distinct
    // ciphertexts within an object, distinct salts across objects.
    let plain = vec![0xAB; 4 * BLOCK];
    let (a, _) = seal(&plain, BLOCK, key(1), 0);
    let (b, _) = seal(&plain, BLOCK, key(2), 0);
    let (c, _) = seal(&plain, BLOCK, key(1), 1);
    let blocks =
        |s: &[u8]| -> Vec<Vec<u8>> { s.chunks(SEALED_BLOCK).map(<[u8]>::to_vec).collect() };
    let mut all: Vec<Vec<u8>> = blocks(&a);
    all.extend(blocks(&b));
    all.extend(blocks(&c));
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "two sealed blocks are equal");
    // Nothing of the plaintext shows through.
    assert!(!a.windows(64).any(|w| w.iter().all(|&x| x == 0xAB)));
    // The two modes and the master key derive different keys.
    let master = MasterKey::from_ca_key_pem("-----BEGIN-----\nQUJD\n-----END-----\n", "id1")
        .expect("master");
    let other = MasterKey::from_ca_key_pem("-----BEGIN-----\r\nQUJD\r\n-----END-----", "id2")
        .expect("master");
    let salt = [9u8; 32];
    let (s1, _) = seal(
        &plain[..100],
        100,
        DataKey::for_s3(&master, &salt).expect("k"),
        0,
    );
    let (s2, _) = seal(
        &plain[..100],
        100,
        DataKey::for_s3(&other, &salt).expect("k"),
        0,
    );
    let (s3, _) = seal(
        &plain[..100],
        100,
        DataKey::for_customer(&[0; 32], &salt).expect("k"),
        0,
    );
    assert_ne!(s1, s2);
    assert_ne!(s1, s3);
    let same = MasterKey::from_ca_key_pem("-----BEGIN-----\r\nQUJD\r\n-----END-----", "id1")
        .expect("master");
    let (s4, _) = seal(
        &plain[..100],
        100,
        DataKey::for_s3(&same, &salt).expect("k"),
        0,
    );
    assert_eq!(
        s1, s4,
        "line endings of the PEM do not change the master key"
    );
    assert_eq!(format!("{master:?}"), "MasterKey(..)");
}

#[test]
fn headers_round_trip_and_bad_ones_are_refused() {
    let sse = ObjectSse {
        mode: SseMode::Customer,
        salt: [5; 32],
        plain_size: 12345,
        key_md5: Some("abc=".into()),
    };
    let mut headers = std::collections::BTreeMap::new();
    assert_eq!(ObjectSse::from_headers(&headers), Ok(None));
    sse.to_headers(&mut headers);
    assert_eq!(ObjectSse::from_headers(&headers), Ok(Some(sse)));
    headers.insert(SALT_HEADER.into(), "zz".into());
    assert!(ObjectSse::from_headers(&headers).is_err());
}
