//! The revoked certificates: kept once, dropped when they expire.

use super::*;

const SECOND: i64 = 1_000_000_000;

fn revoke(f: &mut Fixture, serial: &[u8], not_after: i64, now_s: i64) {
    f.run(Command::RevokeCert {
        serial: serial.to_vec(),
        subject: "cairn cs".into(),
        not_after,
        now_ns: now_s * SECOND,
    })
    .unwrap();
}

fn serials(f: &Fixture) -> Vec<Vec<u8>> {
    f.reader()
        .revoked_certs()
        .unwrap()
        .into_iter()
        .map(|(serial, _)| serial)
        .collect()
}

#[test]
fn a_revocation_is_kept_once_until_its_certificate_expires() {
    let mut f = Fixture::new();
    revoke(&mut f, b"\x01\x02", 1_000, 100);
    revoke(&mut f, b"\x01\x02", 1_000, 200);
    revoke(&mut f, b"\x03", 5_000, 300);
    let rows = f.reader().revoked_certs().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].1.revoked_ns,
        100 * SECOND,
        "the first revocation stays"
    );
    // A later revocation, after the first certificate ended, drops it.
    revoke(&mut f, b"\x04", 9_000, 2_000);
    assert_eq!(serials(&f), vec![b"\x03".to_vec(), b"\x04".to_vec()]);
    // An expired certificate is not listed: its validity refuses it.
    revoke(&mut f, b"\x05", 1_500, 2_000);
    assert_eq!(serials(&f).len(), 2);
}

#[test]
fn a_serial_must_have_one_to_twenty_bytes() {
    let mut f = Fixture::new();
    for bad in [Vec::new(), vec![7u8; 21]] {
        let err = f
            .run(Command::RevokeCert {
                serial: bad,
                subject: String::new(),
                not_after: 10,
                now_ns: 0,
            })
            .unwrap_err();
        assert!(matches!(err, ClusterError::Invalid(_)), "{err:?}");
    }
    assert!(serials(&f).is_empty());
}
