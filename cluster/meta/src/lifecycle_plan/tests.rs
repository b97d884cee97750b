//! The planner: pure functions of a snapshot and the time to the changes
//! due. (That a change is not made twice once applied is tested on the
//! real state machine in `apply::tests::lifecycle`.)

use cairn_common::lifecycle::{
    AbortIncompleteMultipartUpload, Filter, NoncurrentVersionExpiration, RuleStatus,
};

use super::*;
use crate::schema::{LockMode, Retention};

const DAY: i64 = 10;

fn clock(now_ns: i64) -> Clock {
    Clock {
        now_ns,
        day_ns: DAY,
    }
}

fn rule(filter: Filter) -> Rule {
    Rule {
        id: "r".into(),
        status: RuleStatus::Enabled,
        filter,
        expiration: None,
        noncurrent_version_expiration: None,
        abort_incomplete_multipart_upload: None,
    }
}

fn expire_after(days: u32) -> Rule {
    Rule {
        expiration: Some(Expiration::Days(days)),
        ..rule(Filter::All)
    }
}

fn noncurrent_after(days: u32, keep: Option<u32>) -> Rule {
    Rule {
        noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
            noncurrent_days: days,
            newer_noncurrent_versions: keep,
        }),
        ..rule(Filter::All)
    }
}

fn v(seq: u64) -> VersionId {
    VersionId { seq, null: false }
}

fn current(seq: u64, mtime_ns: i64, protection: Protection) -> CurrentVersion {
    CurrentVersion {
        ino: 100 + seq,
        version: v(seq),
        size: 50,
        mtime_ns,
        etag: format!("e{seq}"),
        protection,
    }
}

fn row(seq: u64, since: i64, marker: bool, protection: Protection) -> RowVersion {
    RowVersion {
        id: v(seq),
        delete_marker: marker,
        size: if marker { 0 } else { 50 },
        protection,
        noncurrent_since_ns: since,
    }
}

fn key(name: &str, current: Option<CurrentVersion>, rows: Vec<RowVersion>) -> KeyVersions {
    KeyVersions {
        key: name.as_bytes().to_vec(),
        current,
        rows,
    }
}

fn retained(mode: LockMode, until_ns: i64) -> Protection {
    Protection {
        retention: Some(Retention { mode, until_ns }),
        ..Protection::default()
    }
}

fn held() -> Protection {
    Protection {
        legal_hold: true,
        ..Protection::default()
    }
}

fn expired_versions(actions: &[LifecycleAction]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            LifecycleAction::ExpireCurrent { version, .. } => Some(version.seq),
            _ => None,
        })
        .collect()
}

fn removed_versions(actions: &[LifecycleAction]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            LifecycleAction::RemoveNoncurrent { version, .. } => Some(version.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn current_versions_expire_when_due_and_only_then() {
    let rules = [expire_after(2)];
    // Modified at 5: 2 days of 10 ns later is 25, rounded up to "midnight" 30.
    let k = key("a", Some(current(1, 5, Protection::default())), vec![]);
    assert!(plan_key(&rules, &k, clock(29)).is_empty());
    let due = plan_key(&rules, &k, clock(30));
    assert_eq!(
        due,
        vec![LifecycleAction::ExpireCurrent {
            key: b"a".to_vec(),
            version: v(1),
            ino: 101,
            mtime_ns: 5,
            etag: "e1".into(),
        }]
    );
    let date = Rule {
        expiration: Some(Expiration::Date(100)),
        ..rule(Filter::All)
    };
    assert!(plan_key(std::slice::from_ref(&date), &k, clock(99)).is_empty());
    assert_eq!(expired_versions(&plan_key(&[date], &k, clock(100))), [1]);
    let disabled = Rule {
        status: RuleStatus::Disabled,
        ..expire_after(1)
    };
    assert!(plan_key(&[disabled], &k, clock(1_000)).is_empty());
}

#[test]
fn filters_select_by_prefix_tags_and_size() {
    let tagged = Protection {
        tags: BTreeMap::from([("class".to_string(), "tmp".to_string())]),
        ..Protection::default()
    };
    let k = key("logs/a", Some(current(1, 0, tagged.clone())), vec![]);
    let other = key("data/a", Some(current(2, 0, tagged)), vec![]);
    let untagged = key("logs/b", Some(current(3, 0, Protection::default())), vec![]);
    let by = |filter| Rule {
        expiration: Some(Expiration::Days(1)),
        ..rule(filter)
    };
    let prefix = [by(Filter::Prefix("logs/".into()))];
    let tag = [by(Filter::Tag {
        key: "class".into(),
        value: "tmp".into(),
    })];
    let small = [by(Filter::ObjectSizeLessThan(50))];
    let now = clock(1_000);
    assert_eq!(expired_versions(&plan_key(&prefix, &k, now)), [1]);
    assert!(plan_key(&prefix, &other, now).is_empty());
    assert_eq!(expired_versions(&plan_key(&tag, &other, now)), [2]);
    assert!(plan_key(&tag, &untagged, now).is_empty());
    assert!(plan_key(&small, &k, now).is_empty(), "size 50 is not < 50");
}

#[test]
fn locked_versions_are_never_removed_only_hidden() {
    let rules = [expire_after(1), noncurrent_after(1, None)];
    let now = 1_000;
    for protection in [
        retained(LockMode::Compliance, now + 1),
        retained(LockMode::Governance, now + 1),
        held(),
    ] {
        let k = key(
            "a",
            Some(current(9, 0, protection.clone())),
            vec![row(5, 0, false, protection.clone())],
        );
        // The current one gets a marker in front (ExpireCurrent in a
        // versioned bucket); the noncurrent one is not touched.
        let due = plan_key(&rules, &k, clock(now));
        assert_eq!(
            (expired_versions(&due), removed_versions(&due)),
            (vec![9], vec![]),
            "{protection:?}"
        );
    }
    // Retention past its date no longer protects.
    let past = retained(LockMode::Compliance, now);
    let k = key(
        "a",
        Some(current(9, 0, past.clone())),
        vec![row(5, 0, false, past)],
    );
    let due = plan_key(&rules, &k, clock(now));
    assert_eq!(
        (expired_versions(&due), removed_versions(&due)),
        (vec![9], vec![5])
    );
}

#[test]
fn newer_noncurrent_versions_are_kept() {
    // Current 10, noncurrent 9..5 (newest first), all old enough.
    let rows: Vec<RowVersion> = (5..=9)
        .rev()
        .map(|s| row(s, 0, false, Protection::default()))
        .collect();
    let k = key("a", Some(current(10, 0, Protection::default())), rows);
    let keep_two = [noncurrent_after(1, Some(2))];
    let due = plan_key(&keep_two, &k, clock(1_000));
    assert_eq!(removed_versions(&due), [7, 6, 5]);
    assert!(due
        .iter()
        .all(|a| matches!(a, LifecycleAction::RemoveNoncurrent { keep_newer: 2, .. })));
    // Not yet noncurrent long enough: nothing, whatever the count.
    let young: Vec<RowVersion> = (5..=9)
        .rev()
        .map(|s| row(s, 995, false, Protection::default()))
        .collect();
    let k = key("a", Some(current(10, 0, Protection::default())), young);
    assert!(plan_key(&keep_two, &k, clock(1_000)).is_empty());
    // Behind a current delete marker the marker is not noncurrent: the
    // kept ones are the two after it.
    let rows = vec![
        row(12, 0, true, Protection::default()),
        row(11, 0, false, Protection::default()),
        row(10, 0, false, Protection::default()),
        row(9, 0, true, Protection::default()),
    ];
    let k = key("a", None, rows);
    assert_eq!(
        removed_versions(&plan_key(&keep_two, &k, clock(1_000))),
        [9]
    );
}

#[test]
fn only_a_sole_delete_marker_is_removed_and_only_when_asked() {
    let marker_rule = Rule {
        expiration: Some(Expiration::ExpiredObjectDeleteMarker(true)),
        ..rule(Filter::Prefix("a".into()))
    };
    let sole = key("a", None, vec![row(3, 0, true, Protection::default())]);
    assert_eq!(
        plan_key(std::slice::from_ref(&marker_rule), &sole, clock(0)),
        vec![LifecycleAction::RemoveSoleMarker {
            key: b"a".to_vec(),
            version: v(3),
        }]
    );
    let not_sole = key(
        "a",
        None,
        vec![
            row(3, 0, true, Protection::default()),
            row(2, 0, false, Protection::default()),
        ],
    );
    assert!(plan_key(std::slice::from_ref(&marker_rule), &not_sole, clock(0)).is_empty());
    let off = Rule {
        expiration: Some(Expiration::ExpiredObjectDeleteMarker(false)),
        ..marker_rule.clone()
    };
    assert!(plan_key(&[off], &sole, clock(0)).is_empty());
    let elsewhere = key("b", None, vec![row(3, 0, true, Protection::default())]);
    assert!(plan_key(&[marker_rule], &elsewhere, clock(0)).is_empty());
}

#[test]
fn incomplete_uploads_are_aborted_by_prefix_and_age() {
    let rules = [Rule {
        abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
            days_after_initiation: 1,
        }),
        ..rule(Filter::Prefix("tmp/".into()))
    }];
    let upload = |id: &str, key: &str, created_ns| UploadSeen {
        upload_id: id.into(),
        key: key.as_bytes().to_vec(),
        created_ns,
    };
    let uploads = [
        upload("u1", "tmp/a", 0),
        upload("u2", "tmp/b", 15),
        upload("u3", "keep/c", 0),
    ];
    let ids = |now| -> Vec<String> {
        plan_uploads(&rules, &uploads, clock(now))
            .into_iter()
            .filter_map(|a| match a {
                LifecycleAction::AbortUpload { upload_id, .. } => Some(upload_id),
                _ => None,
            })
            .collect()
    };
    assert_eq!(ids(9), Vec::<String>::new());
    assert_eq!(ids(10), ["u1"]);
    assert_eq!(ids(30), ["u1", "u2"]);
}
