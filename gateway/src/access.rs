//! Who may do what on a bucket: the one rule that authorization and
//! ListBuckets both apply.
//!
//! Closed by default. A bucket's owner is the key recorded at its creation
//! (the S3 key that made it, `cairn mb --owner KEY` or the oldest admin key,
//! `cairn mount --owner KEY` for mkdir at the mount's root); it may do
//! everything. Any other key needs a grant (`cairn bucket allow`): read,
//! write, or granted ownership. A bucket with no recorded owner (made
//! before owners were recorded, or by a mount without `--owner`) is
//! reachable only by admin keys (`cairn key create --admin`, the key `cairn
//! up` makes), which stand in for its owner; an admin key has no right on a
//! bucket another key owns unless granted. The mount is not subject to any
//! of this: it is a trusted local door with the node's cluster identity.
//!
//! With a bucket policy ([`allows_request`]), as AWS evaluates a request
//! in the bucket owner's account: an explicit Deny of the policy refuses
//! (the owner's GetBucketPolicy, PutBucketPolicy and DeleteBucketPolicy
//! excepted, so that a policy that locks everyone out can be undone);
//! else an Allow of the policy, the key's own right above, or an ACL grant
//! allows; else the request is refused. An anonymous request has no key:
//! only the policy or an ACL can allow it.

use crate::policy::Decision;
use crate::router::Access;
use crate::signature::AccessKey;

/// The actions the owner keeps past a Deny.
const OWNER_KEEPS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

/// Whether `key` (None: anonymous) may do `access` (IAM action `action`)
/// on `bucket` owned by `owner`, given the policy's `decision` and whether
/// an ACL grants it.
pub fn allows_request(
    key: Option<&AccessKey>,
    bucket: &str,
    owner: &str,
    access: Access,
    action: &str,
    decision: Decision,
    acl_grants: bool,
) -> bool {
    let is_owner = key.is_some_and(|k| stands_as_owner(k, owner));
    if decision == Decision::Deny && !(is_owner && OWNER_KEEPS.contains(&action)) {
        return false;
    }
    decision == Decision::Allow
        || acl_grants
        || key.is_some_and(|k| allows(k, bucket, owner, access))
}

/// Whether `key` stands as the owner of a bucket owned by `owner`.
pub fn is_owner(key: &AccessKey, owner: &str) -> bool {
    stands_as_owner(key, owner)
}

/// Whether `key` may do `access` on the bucket `bucket` owned by `owner`
/// (empty: no owner recorded).
pub fn allows(key: &AccessKey, bucket: &str, owner: &str, access: Access) -> bool {
    if access == Access::AnyKey || stands_as_owner(key, owner) {
        return true;
    }
    let grant = key.permission(bucket);
    match access {
        Access::AnyKey => true,
        Access::Read => grant.may_read(),
        Access::Write => grant.may_write(),
        Access::Owner => grant.owner,
    }
}

/// Whether `key` may see the bucket at all (ListBuckets): it owns it, or
/// has any grant on it.
pub fn reaches(key: &AccessKey, bucket: &str, owner: &str) -> bool {
    stands_as_owner(key, owner) || key.buckets.contains_key(bucket)
}

/// The recorded owner, or an admin key for a bucket without one.
fn stands_as_owner(key: &AccessKey, owner: &str) -> bool {
    if owner.is_empty() {
        key.admin
    } else {
        owner == key.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::BucketPermission;

    fn key(id: &str, admin: bool, grants: &[(&str, BucketPermission)]) -> AccessKey {
        let mut k = AccessKey::new(id, "secret");
        k.admin = admin;
        for (b, p) in grants {
            k.buckets.insert(b.to_string(), *p);
        }
        k
    }

    const READ: BucketPermission = BucketPermission {
        read: true,
        write: false,
        owner: false,
    };
    const WRITE: BucketPermission = BucketPermission {
        read: false,
        write: true,
        owner: false,
    };
    const LEVELS: [Access; 3] = [Access::Read, Access::Write, Access::Owner];

    #[test]
    fn a_bucket_without_owner_is_the_admins_only() {
        let admin = key("ADMIN", true, &[]);
        let plain = key("PLAIN", false, &[]);
        for access in LEVELS {
            assert!(allows(&admin, "b", "", access), "{access:?}");
            assert!(!allows(&plain, "b", "", access), "{access:?}");
        }
        assert!(reaches(&admin, "b", ""));
        assert!(!reaches(&plain, "b", ""));
        // Any key may list its buckets and create one.
        assert!(allows(&plain, "b", "", Access::AnyKey));
    }

    #[test]
    fn an_owned_bucket_is_its_owners_and_the_granted_keys() {
        let owner = key("OWNER", false, &[]);
        let admin = key("ADMIN", true, &[]);
        let reader = key("READER", false, &[("b", READ)]);
        let writer = key("WRITER", false, &[("b", WRITE)]);
        for access in LEVELS {
            assert!(allows(&owner, "b", "OWNER", access));
            assert!(!allows(&admin, "b", "OWNER", access), "admins stay out");
        }
        assert!(allows(&reader, "b", "OWNER", Access::Read));
        assert!(!allows(&reader, "b", "OWNER", Access::Write));
        assert!(!allows(&reader, "other", "OWNER", Access::Read));
        assert!(allows(&writer, "b", "OWNER", Access::Write));
        assert!(!allows(&writer, "b", "OWNER", Access::Read));
        assert!(!allows(&writer, "b", "OWNER", Access::Owner));
        assert!(reaches(&reader, "b", "OWNER"));
        assert!(!reaches(&admin, "b", "OWNER"));
    }

    #[test]
    fn a_policy_deny_wins_but_the_owner_keeps_the_policy() {
        let owner = key("OWNER", false, &[]);
        let reader = key("READER", false, &[("b", READ)]);
        let get = "s3:GetObject";
        let deny = Decision::Deny;
        assert!(!allows_request(
            Some(&owner),
            "b",
            "OWNER",
            Access::Read,
            get,
            deny,
            false
        ));
        assert!(!allows_request(
            Some(&reader),
            "b",
            "OWNER",
            Access::Read,
            get,
            deny,
            true
        ));
        for keeps in OWNER_KEEPS {
            assert!(allows_request(
                Some(&owner),
                "b",
                "OWNER",
                Access::Owner,
                keeps,
                deny,
                false
            ));
            assert!(!allows_request(
                Some(&reader),
                "b",
                "OWNER",
                Access::Owner,
                keeps,
                deny,
                false
            ));
        }
        let neutral = Decision::Neutral;
        assert!(allows_request(
            Some(&reader),
            "b",
            "OWNER",
            Access::Read,
            get,
            neutral,
            false
        ));
        assert!(!allows_request(
            None,
            "b",
            "OWNER",
            Access::Read,
            get,
            neutral,
            false
        ));
        assert!(allows_request(
            None,
            "b",
            "OWNER",
            Access::Read,
            get,
            neutral,
            true
        ));
        assert!(allows_request(
            None,
            "b",
            "OWNER",
            Access::Read,
            get,
            Decision::Allow,
            false
        ));
        assert!(allows_request(
            Some(&reader),
            "b",
            "OWNER",
            Access::Owner,
            "s3:PutBucketTagging",
            Decision::Allow,
            false
        ));
    }
}
