//! S3's XML bodies: what clients send (`request`) and what the gateway
//! answers (`response`), serialised with quick-xml's serde support; and the
//! data-protection configurations (`versioning`, `tagging`, `lock`,
//! `lifecycle`) and the CORS rules (`cors`), each a plain type with `parse`
//! and `to_xml`, read through a small element tree (`tree`) so that every
//! fault gets S3's own code.

pub mod attributes;
pub mod cors;
pub mod encryption;
pub mod lifecycle;
pub mod lock;
pub mod request;
pub mod response;
pub mod tagging;
pub(crate) mod tree;
pub mod versioning;

/// The S3 namespace on every answer's root element.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The XML declaration that starts every answer.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The fuzzing entry point for the data-protection bodies and headers;
/// never panics.
pub fn fuzz_protection_bodies(data: &[u8]) {
    let _ = versioning::VersioningConfiguration::parse(data);
    let _ = tagging::TagSet::parse(data, tagging::TagTarget::Object);
    let _ = tagging::TagSet::from_header(data, tagging::TagTarget::Bucket);
    let _ = lock::ObjectLockConfiguration::parse(data);
    let _ = lock::Retention::parse(data);
    let _ = lock::LegalHold::parse(data);
    let _ = lifecycle::parse(data);
}

#[cfg(test)]
mod tests {
    //! A seeded mutation test over every data-protection body: valid
    //! documents with random bytes replaced, removed or repeated. Whatever
    //! the result, parsing must not panic, and whatever is accepted must
    //! come back unchanged through its answer (`to_xml`, then `parse`).

    use super::lifecycle;
    use super::lock::{LegalHold, ObjectLockConfiguration, Retention};
    use super::tagging::{TagSet, TagTarget};
    use super::versioning::VersioningConfiguration;

    /// xorshift64*: small, seeded, reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const ALPHABET: &[u8] = b"<>/&;=+-:._ 0123456789aAzZ\"'#x%\xc3\xa9\n";

    fn mutate(rng: &mut Rng, seed_doc: &[u8]) -> Vec<u8> {
        let mut doc = seed_doc.to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(doc.len());
            match rng.below(3) {
                0 if !doc.is_empty() => doc[at] = ALPHABET[rng.below(ALPHABET.len())],
                1 if !doc.is_empty() => {
                    let end = (at + 1 + rng.below(8)).min(doc.len());
                    doc.drain(at..end);
                }
                _ => {
                    let end = (at + 1 + rng.below(16)).min(doc.len());
                    let piece = doc[at..end].to_vec();
                    doc.splice(at..at, piece);
                }
            }
        }
        doc
    }

    fn check(doc: &[u8]) -> Result<(), String> {
        let text = || String::from_utf8_lossy(doc).into_owned();
        if let Ok(v) = VersioningConfiguration::parse(doc) {
            if VersioningConfiguration::parse(v.to_xml().as_bytes()).ok() != Some(v) {
                return Err(format!("versioning: {}", text()));
            }
        }
        if let Ok(t) = TagSet::parse(doc, TagTarget::Object) {
            if TagSet::parse(t.to_xml().as_bytes(), TagTarget::Object)
                .ok()
                .as_ref()
                != Some(&t)
                || TagSet::from_header(t.to_header().as_bytes(), TagTarget::Object)
                    .ok()
                    .as_ref()
                    != Some(&t)
            {
                return Err(format!("tagging: {}", text()));
            }
        }
        if let Ok(t) = TagSet::from_header(doc, TagTarget::Object) {
            if TagSet::from_header(t.to_header().as_bytes(), TagTarget::Object)
                .ok()
                .as_ref()
                != Some(&t)
            {
                return Err(format!("tag header: {}", text()));
            }
        }
        if let Ok(c) = ObjectLockConfiguration::parse(doc) {
            if ObjectLockConfiguration::parse(c.to_xml().as_bytes()).ok() != Some(c) {
                return Err(format!("lock: {}", text()));
            }
        }
        if let Ok(Some(r)) = Retention::parse(doc) {
            if Retention::parse(r.to_xml().as_bytes()).ok() != Some(Some(r)) {
                return Err(format!("retention: {}", text()));
            }
        }
        if let Ok(h) = LegalHold::parse(doc) {
            if LegalHold::parse(h.to_xml().as_bytes()).ok() != Some(h) {
                return Err(format!("legal hold: {}", text()));
            }
        }
        if let Ok(c) = lifecycle::parse(doc) {
            if lifecycle::parse(lifecycle::to_xml(&c).as_bytes())
                .ok()
                .as_ref()
                != Some(&c)
            {
                return Err(format!("lifecycle: {}", text()));
            }
        }
        Ok(())
    }

    #[test]
    fn mutated_bodies_never_panic_and_what_is_accepted_round_trips() {
        let seeds: &[&[u8]] = &[
            b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>",
            b"<Tagging><TagSet><Tag><Key>k1</Key><Value>v 1</Value></Tag><Tag><Key>k2</Key><Value>a&amp;b</Value></Tag></TagSet></Tagging>",
            b"k1=v1&k%202=v+2&k3",
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
            b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.123Z</RetainUntilDate></Retention>",
            b"<LegalHold><Status>ON</Status></LegalHold>",
            b"<LifecycleConfiguration><Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeLessThan>99</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>10</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule><Rule><Filter><Prefix>q</Prefix></Filter><Status>Disabled</Status><Expiration><Date>2031-02-03T00:00:00Z</Date></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>",
        ];
        let seed = 0x5eed_c0de_u64;
        let mut rng = Rng(seed);
        for doc in seeds {
            assert_eq!(check(doc), Ok(()), "seed document must round-trip");
            for round in 0..2000 {
                let mutated = mutate(&mut rng, doc);
                super::fuzz_protection_bodies(&mutated);
                if let Err(what) = check(&mutated) {
                    panic!("seed {seed:#x}, round {round}: accepted but changed: {what}");
                }
            }
        }
    }
}
