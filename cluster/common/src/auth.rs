//! Authentication of cluster RPC with the cluster secret.
//!
//! Every call carries `cairn-auth: <unix-seconds>.<hex HMAC-SHA256>` where the
//! MAC covers the cluster id and the timestamp. A server accepts a token made
//! within `MAX_SKEW_SECS` of its own clock; the secret itself never crosses
//! the wire and never appears in logs.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::time::now_secs;

#[cfg(feature = "rpc")]
pub use self::rpc::{ClientAuth, ServerAuth};

/// Metadata key of the credential.
pub const AUTH_HEADER: &str = "cairn-auth";

/// How far a token's timestamp may be from the server's clock.
pub const MAX_SKEW_SECS: u64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused, with the cluster id the server expected. A
/// server answers it as UNAUTHENTICATED with this message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refused {
    #[error("cluster credential refused (malformed): is this process configured for cluster {0}?")]
    Malformed(String),
    #[error(
        "cluster credential refused (clock skew): is this process configured for cluster {0}?"
    )]
    ClockSkew(String),
    #[error(
        "cluster credential refused (wrong cluster secret): is this process configured for \
         cluster {0}?"
    )]
    WrongSecret(String),
}

/// The credential of one cluster: its id and secret.
#[derive(Clone)]
pub struct ClusterAuth {
    cluster_id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAuth")
            .field("cluster_id", &self.cluster_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ClusterAuth {
    pub fn new(cluster_id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        ClusterAuth {
            cluster_id: cluster_id.into(),
            secret: secret.into(),
        }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn mac(&self, ts: u64) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(self.cluster_id.as_bytes());
        mac.update(b"\n");
        mac.update(ts.to_string().as_bytes());
        mac
    }

    /// A token for the current second.
    pub fn token(&self) -> String {
        let ts = now_secs();
        format!("{ts}.{}", hex::encode(self.mac(ts).finalize().into_bytes()))
    }

    /// Checks a token against the secret and the clock.
    pub fn verify(&self, token: &str) -> Result<(), Refused> {
        let malformed = || Refused::Malformed(self.cluster_id.clone());
        let (ts, tag) = token.split_once('.').ok_or_else(malformed)?;
        let ts: u64 = ts.parse().map_err(|_| malformed())?;
        if now_secs().abs_diff(ts) > MAX_SKEW_SECS {
            return Err(Refused::ClockSkew(self.cluster_id.clone()));
        }
        let tag = hex::decode(tag).map_err(|_| malformed())?;
        self.mac(ts)
            .verify_slice(&tag)
            .map_err(|_| Refused::WrongSecret(self.cluster_id.clone()))
    }
}

/// The credential on tonic calls; only RPC processes build it (the
/// metadata core uses [`ClusterAuth`] without tonic).
#[cfg(feature = "rpc")]
mod rpc {
    use tonic::{metadata::MetadataValue, service::Interceptor, Request, Status};

    use super::{ClusterAuth, AUTH_HEADER};

    /// Adds the credential to every outgoing call.
    #[derive(Clone, Debug)]
    pub struct ClientAuth(pub ClusterAuth);

    impl Interceptor for ClientAuth {
        fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
            let value = MetadataValue::try_from(self.0.token())
                .map_err(|_| Status::internal("credential is not a header value"))?;
            req.metadata_mut().insert(AUTH_HEADER, value);
            Ok(req)
        }
    }

    /// Refuses every incoming call without a valid credential.
    #[derive(Clone, Debug)]
    pub struct ServerAuth(pub ClusterAuth);

    impl Interceptor for ServerAuth {
        fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
            let token = req
                .metadata()
                .get(AUTH_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Status::unauthenticated(
                        "no cluster credential: cluster RPC needs the cluster secret",
                    )
                })?;
            self.0
                .verify(token)
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            Ok(req)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_own_token_and_refuses_others() {
        let a = ClusterAuth::new("c1", b"secret-a".to_vec());
        let b = ClusterAuth::new("c1", b"secret-b".to_vec());
        let other_cluster = ClusterAuth::new("c2", b"secret-a".to_vec());
        assert!(a.verify(&a.token()).is_ok());
        let wrong = Err(Refused::WrongSecret("c1".into()));
        assert_eq!(a.verify(&b.token()), wrong);
        assert_eq!(a.verify(&other_cluster.token()), wrong);
        assert_eq!(a.verify("garbage"), Err(Refused::Malformed("c1".into())));
        assert_eq!(a.verify("1.zz"), Err(Refused::ClockSkew("c1".into())));
        let now = crate::time::now_secs();
        assert_eq!(
            a.verify(&format!("{now}.zz")),
            Err(Refused::Malformed("c1".into()))
        );
        assert!(!format!("{a:?}").contains("secret-a"));
    }
}
