//! The body of PutBucketVersioning and GetBucketVersioning
//! (`VersioningConfiguration`; S3 API reference: PutBucketVersioning,
//! GetBucketVersioning, VersioningConfiguration).
//!
//! Rules, as S3 applies them:
//! - the root is `VersioningConfiguration`, with or without S3's
//!   namespace; it may hold `Status` and `MfaDelete`, each at most once;
//!   any other element is `MalformedXML`;
//! - `Status` is `Enabled` or `Suspended`, exactly; any other value is
//!   `MalformedXML` (S3 answers `Status=suspend` that way). The reference
//!   marks `Status` "Required: No": a body without it asks for no change of
//!   state, and parses to `status: None`;
//! - `MfaDelete` is `Enabled` or `Disabled`. Cairn has no MFA devices, so
//!   MFA delete is always disabled: `Disabled` is accepted (it is the state
//!   already, and tools such as Terraform send it), `Enabled` is refused
//!   with `NotImplemented` (501) — the request is valid S3 but implies a
//!   feature this server does not have, which is exactly that code's
//!   meaning; `InvalidArgument` would tell the client its request is wrong.
//!
//! GetBucketVersioning answers `<VersioningConfiguration/>` for a bucket
//! that was never versioned, else the `Status`; never `MfaDelete` ("only
//! returned if the bucket has been configured with MFA delete").

use crate::error::{ErrorCode, S3Error, S3Result};

use super::tree::{self, malformed};

const ROOT: &str = "VersioningConfiguration";

/// A bucket's versioning state once it has been set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    /// The value as S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }

    fn from_xml(text: &str) -> Option<VersioningStatus> {
        match text {
            "Enabled" => Some(VersioningStatus::Enabled),
            "Suspended" => Some(VersioningStatus::Suspended),
            _ => None,
        }
    }
}

/// A versioning configuration: the state asked for (PUT) or the bucket's
/// state (GET). `None` is "no change" in a request and "never versioned"
/// in an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersioningConfiguration {
    pub status: Option<VersioningStatus>,
}

impl VersioningConfiguration {
    /// Parses and validates a PutBucketVersioning body.
    pub fn parse(body: &[u8]) -> S3Result<VersioningConfiguration> {
        let doc = tree::parse(body, ROOT)?;
        doc.only(&["Status", "MfaDelete"])?;
        let status = match doc.child("Status")? {
            Some(el) => Some(VersioningStatus::from_xml(el.leaf()?).ok_or_else(malformed)?),
            None => None,
        };
        if let Some(mfa) = doc.child("MfaDelete")? {
            match mfa.leaf()? {
                "Disabled" => {}
                "Enabled" => {
                    return Err(S3Error::with_message(
                        ErrorCode::NotImplemented,
                        "MFA delete is not supported by this server.",
                    ))
                }
                _ => return Err(malformed()),
            }
        }
        Ok(VersioningConfiguration { status })
    }

    /// The GetBucketVersioning document.
    pub fn to_xml(&self) -> String {
        match self.status {
            None => tree::empty_root(ROOT),
            Some(status) => {
                let mut out = String::with_capacity(160);
                tree::open_root(&mut out, ROOT);
                tree::push_leaf(&mut out, "Status", status.as_str());
                tree::push_close(&mut out, ROOT);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> ErrorCode {
        VersioningConfiguration::parse(body.as_bytes())
            .unwrap_err()
            .code
    }

    #[test]
    fn enabled_and_suspended_round_trip() {
        for status in [VersioningStatus::Enabled, VersioningStatus::Suspended] {
            let config = VersioningConfiguration {
                status: Some(status),
            };
            let xml = config.to_xml();
            assert!(
                xml.contains(&format!(
                    "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></VersioningConfiguration>",
                    status.as_str()
                )),
                "{xml}"
            );
            assert_eq!(
                VersioningConfiguration::parse(xml.as_bytes()).unwrap(),
                config
            );
        }
    }

    #[test]
    fn accepts_what_clients_send() {
        // aws-cli and boto3 send the namespace, mc does not.
        let namespaced = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
        let bare =
            b"<VersioningConfiguration>\n  <Status>Suspended</Status>\n</VersioningConfiguration>";
        assert_eq!(
            VersioningConfiguration::parse(namespaced).unwrap().status,
            Some(VersioningStatus::Enabled)
        );
        assert_eq!(
            VersioningConfiguration::parse(bare).unwrap().status,
            Some(VersioningStatus::Suspended)
        );
        let with_mfa_off = b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>";
        assert_eq!(
            VersioningConfiguration::parse(with_mfa_off).unwrap().status,
            Some(VersioningStatus::Enabled)
        );
    }

    #[test]
    fn never_versioned_is_the_empty_element_and_means_no_change() {
        let empty = VersioningConfiguration::default().to_xml();
        assert!(empty.ends_with(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        ));
        assert_eq!(
            VersioningConfiguration::parse(empty.as_bytes()).unwrap(),
            VersioningConfiguration { status: None }
        );
    }

    #[test]
    fn bad_status_is_malformed() {
        for body in [
            "<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status>suspend</Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status> Enabled</Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status></Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status>Enabled</Status><Status>Enabled</Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status><Enabled/></Status></VersioningConfiguration>",
            "<VersioningConfiguration><Status>Enabled</Status><Extra/></VersioningConfiguration>",
            "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>On</MfaDelete></VersioningConfiguration>",
            "<Versioning><Status>Enabled</Status></Versioning>",
            "<VersioningConfiguration><Status>Enabled</Status>",
        ] {
            assert_eq!(code(body), ErrorCode::MalformedXML, "{body}");
        }
    }

    #[test]
    fn mfa_delete_enabled_is_not_implemented() {
        let err = VersioningConfiguration::parse(
            b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>",
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::NotImplemented);
        assert_eq!(err.status(), http::StatusCode::NOT_IMPLEMENTED);
    }
}
