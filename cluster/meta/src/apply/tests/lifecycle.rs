//! Lifecycle commands on the real state machine: the planner reads a
//! snapshot, its commands are applied, and none does anything twice or
//! after the state it was chosen for has changed.

use cairn_common::lifecycle::{
    AbortIncompleteMultipartUpload, Expiration, Filter, NoncurrentVersionExpiration, Rule,
    RuleStatus,
};

use super::*;
use crate::command::{LifecycleAction, LifecycleOutcome, ProtectionChange};
use crate::lifecycle_plan::{plan_key, plan_uploads, Clock};
use crate::schema::{ObjectLockConfig, Versioning};

const DAY: i64 = 10;

fn rules() -> Vec<Rule> {
    let base = Rule {
        id: "r".into(),
        status: RuleStatus::Enabled,
        filter: Filter::All,
        expiration: Some(Expiration::Days(1)),
        noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
            noncurrent_days: 1,
            newer_noncurrent_versions: None,
        }),
        abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
            days_after_initiation: 1,
        }),
    };
    let markers = Rule {
        id: "markers".into(),
        expiration: Some(Expiration::ExpiredObjectDeleteMarker(true)),
        noncurrent_version_expiration: None,
        abort_incomplete_multipart_upload: None,
        ..base.clone()
    };
    vec![base, markers]
}

/// Every change due in `bucket` at `now`, from one snapshot.
fn plan(f: &Fixture, bucket: &str, now: i64) -> Vec<LifecycleAction> {
    let reader = f.reader();
    let clock = Clock {
        now_ns: now,
        day_ns: DAY,
    };
    let rules = rules();
    let (keys, more) = reader.lifecycle_keys(bucket, &[], 1000).unwrap();
    assert!(!more);
    let mut out: Vec<LifecycleAction> = keys
        .iter()
        .flat_map(|k| plan_key(&rules, k, clock))
        .collect();
    out.extend(plan_uploads(
        &rules,
        &reader.lifecycle_uploads(bucket).unwrap(),
        clock,
    ));
    out
}

fn apply_all(
    f: &mut Fixture,
    bucket: &str,
    actions: &[LifecycleAction],
    now: i64,
) -> Vec<LifecycleOutcome> {
    actions
        .iter()
        .map(|a| {
            match f
                .run(Command::Lifecycle {
                    bucket: bucket.into(),
                    action: a.clone(),
                    now_ns: now,
                })
                .unwrap()
            {
                CommandReply::Lifecycle(o) => o,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn count(outcomes: &[LifecycleOutcome], which: LifecycleOutcome) -> usize {
    outcomes.iter().filter(|o| **o == which).count()
}

#[test]
fn versioned_changes_apply_once_and_locked_versions_stay() {
    let mut f = Fixture::new();
    f.bucket("b");
    f.run(Command::SetBucketVersioning {
        bucket: "b".into(),
        versioning: Versioning::Enabled,
    })
    .unwrap();
    f.run(Command::SetObjectLock {
        bucket: "b".into(),
        config: ObjectLockConfig::default(),
    })
    .unwrap();
    f.put("b", b"k", obj(1, "v1")).unwrap();
    f.put("b", b"k", obj(2, "v2")).unwrap();
    f.put("b", b"locked", obj(3, "l")).unwrap();
    f.put("b", b"locked", obj(4, "l2")).unwrap();
    // Hold both versions of `locked`: the current one by default, the
    // noncurrent one by its id.
    let listed = f.reader().lifecycle_keys("b", &[], 10).unwrap().0;
    let locked = listed.iter().find(|k| k.key == b"locked").unwrap();
    for id in [None, Some(locked.rows[0].id.to_wire())] {
        f.run(Command::SetProtection {
            bucket: "b".into(),
            key: b"locked".to_vec(),
            version_id: id,
            change: ProtectionChange {
                legal_hold: Some(true),
                ..ProtectionChange::default()
            },
            bypass_governance: false,
            now_ns: 1,
        })
        .unwrap();
    }
    f.run(Command::CreateUpload {
        bucket: "b".into(),
        key: b"tmp/x".to_vec(),
        object: ObjectSpec::default(),
        upload_id: "u1".into(),
        created_ns: 5,
    })
    .unwrap();

    let now = 10_000;
    let first = plan(&f, "b", now);
    // A held version is never removed; the held current one is hidden
    // behind a marker, as S3's expiration does.
    assert!(
        first.iter().all(|a| !matches!(a,
            LifecycleAction::RemoveNoncurrent { key, .. } if key == b"locked")),
        "a held version was chosen for removal: {first:?}"
    );
    let done = apply_all(&mut f, "b", &first, now);
    assert_eq!(count(&done, LifecycleOutcome::MarkerAdded), 2, "{done:?}");
    assert_eq!(count(&done, LifecycleOutcome::NoncurrentRemoved), 1);
    assert_eq!(count(&done, LifecycleOutcome::UploadAborted), 1);
    assert_eq!(count(&done, LifecycleOutcome::Skipped), 0);
    // The same commands again (a retry, a new leader's pass): nothing.
    let again = apply_all(&mut f, "b", &first, now + 1);
    assert!(
        again.iter().all(|o| *o == LifecycleOutcome::Skipped),
        "{again:?}"
    );
    // A fresh snapshot at the same time chooses nothing more: v2 became
    // noncurrent only now.
    assert_eq!(plan(&f, "b", now), vec![]);
    // A day later v2 goes, then its marker, alone, goes too.
    let later = now + 3 * DAY;
    let due = plan(&f, "b", later);
    let second = apply_all(&mut f, "b", &due, later);
    assert_eq!(second, vec![LifecycleOutcome::NoncurrentRemoved]);
    let due = plan(&f, "b", later);
    let third = apply_all(&mut f, "b", &due, later);
    assert_eq!(third, vec![LifecycleOutcome::MarkerRemoved]);
    assert_eq!(plan(&f, "b", later), vec![]);
    let left = f.reader().lifecycle_keys("b", &[], 10).unwrap().0;
    let names: Vec<&[u8]> = left.iter().map(|k| k.key.as_slice()).collect();
    assert_eq!(names, [b"locked".as_slice()]);
    assert!(left[0].current.is_none(), "the held current is hidden");
    assert_eq!(
        left[0].rows.len(),
        3,
        "the marker and both held versions stay"
    );
}

#[test]
fn an_overwritten_object_is_not_expired_by_a_stale_choice() {
    let mut f = Fixture::new();
    f.bucket("u");
    f.put("u", b"x", obj(1, "old")).unwrap();
    f.put("u", b"y", obj(1, "y")).unwrap();
    let now = 10_000;
    let chosen = plan(&f, "u", now);
    assert_eq!(chosen.len(), 2, "{chosen:?}");
    // `x` is written again after the choice: its expiration must not
    // delete the new object.
    f.put("u", b"x", obj(2, "new")).unwrap();
    let done = apply_all(&mut f, "u", &chosen, now);
    assert_eq!(
        done,
        vec![LifecycleOutcome::Skipped, LifecycleOutcome::CurrentDeleted]
    );
    assert_eq!(f.key_names("u"), ["x"]);
    assert!(apply_all(&mut f, "u", &chosen, now)
        .iter()
        .all(|o| *o == LifecycleOutcome::Skipped));
}
