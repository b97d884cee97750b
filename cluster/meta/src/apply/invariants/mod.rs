//! Seeded random sequences of commands through both doors, with the state's
//! invariants checked after every command: the key index and the tree agree,
//! link counts are right, chunk reference counts equal the references, and
//! nothing is orphaned. A failure prints its seed; replay one with
//! `CAIRN_TEST_SEED=<seed> cargo test -p cairn-meta random_commands`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_common::ROOT_INO;
use rand::{rngs::StdRng, Rng, SeedableRng};
use redb::Database;

mod versions;

use super::tests::{ext, node, obj, Fixture};
use crate::command::{AttrChange, Command, CommandReply, ObjectSpec, WriteCommit};
use crate::schema::{self, ChunkInfo, CsState, NodeKind, PartInfo};

mod snapshot;

use snapshot::{snapshot, Snapshot};

/// Checks every invariant; the error says which one broke.
fn check(db: &Database) -> Result<(), String> {
    let s = snapshot(db);
    let root = s.inodes.get(&ROOT_INO).ok_or("no root")?;
    if root.kind != NodeKind::Dir {
        return Err("root is not a directory".into());
    }

    // Dentries: parents are directories, directories know their one dentry.
    let mut links: HashMap<u64, u32> = HashMap::new();
    let mut subdirs: HashMap<u64, u32> = HashMap::new();
    let mut children: BTreeMap<u64, Vec<(Vec<u8>, u64)>> = BTreeMap::new();
    for (parent, name, child) in &s.dentries {
        let p = s
            .inodes
            .get(parent)
            .ok_or(format!("dentry under missing {parent}"))?;
        if p.kind != NodeKind::Dir {
            return Err(format!("dentry under non-directory {parent}"));
        }
        let c = s
            .inodes
            .get(child)
            .ok_or(format!("dentry to missing {child}"))?;
        if c.key_only {
            return Err(format!("key-only inode {child} has a dentry"));
        }
        if c.kind == NodeKind::Dir {
            if c.parent != *parent || &c.name != name {
                return Err(format!("directory {child} does not know its dentry"));
            }
            *subdirs.entry(*parent).or_default() += 1;
        }
        *links.entry(*child).or_default() += 1;
        children
            .entry(*parent)
            .or_default()
            .push((name.clone(), *child));
    }

    // Link counts; a minimum replica count never above the count.
    for (ino, n) in &s.inodes {
        if n.min_replicas > n.replicas {
            return Err(format!(
                "inode {ino}: minimum {} above the replica count {}",
                n.min_replicas, n.replicas
            ));
        }
        let dentries = links.get(ino).copied().unwrap_or(0);
        match n.kind {
            NodeKind::Dir if n.key_only => {
                if dentries != 0 {
                    return Err(format!("key-only dir {ino} has dentries"));
                }
            }
            NodeKind::Dir => {
                let want = 2 + subdirs.get(ino).copied().unwrap_or(0);
                if n.nlink != want {
                    return Err(format!("dir {ino} nlink {} != {want}", n.nlink));
                }
                if *ino != ROOT_INO && dentries != 1 {
                    return Err(format!("dir {ino} has {dentries} dentries"));
                }
            }
            _ if n.key_only => {
                if dentries != 0 || n.nlink != 1 {
                    return Err(format!(
                        "key-only {ino}: {dentries} dentries, nlink {}",
                        n.nlink
                    ));
                }
            }
            _ => {
                if n.nlink != dentries {
                    return Err(format!(
                        "file {ino} nlink {} != {dentries} dentries",
                        n.nlink
                    ));
                }
            }
        }
        if n.layout.windows(2).any(|w| w[0].end() > w[1].file_offset) {
            return Err(format!("inode {ino}: layout unsorted or overlapping"));
        }
        if n.layout.last().is_some_and(|e| e.end() > n.size) {
            return Err(format!("inode {ino}: layout past its size"));
        }
    }

    // Buckets are the root's directories.
    let root_entries: BTreeMap<Vec<u8>, u64> = children
        .get(&ROOT_INO)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if root_entries.len() != s.buckets.len() {
        return Err("root entries and buckets differ".into());
    }
    for (name, b) in &s.buckets {
        if root_entries.get(name.as_bytes()) != Some(&b.ino) {
            return Err(format!("bucket {name} is not the root's entry"));
        }
    }

    // The tree's paths are exactly the keys of inodes with a path.
    let mut expected: BTreeSet<(String, Vec<u8>, u64)> = BTreeSet::new();
    for (name, b) in &s.buckets {
        let mut stack = vec![(b.ino, Vec::<u8>::new())];
        while let Some((dir, rel)) = stack.pop() {
            for (child_name, child) in children.get(&dir).cloned().unwrap_or_default() {
                let n = &s.inodes[&child];
                if n.bucket != b.ino {
                    return Err(format!(
                        "inode {child} in bucket {name} says bucket {}",
                        n.bucket
                    ));
                }
                let path = schema::join_key(&rel, &child_name);
                if n.kind == NodeKind::Dir {
                    if !n.implicit {
                        let mut k = path.clone();
                        k.push(b'/');
                        expected.insert((name.clone(), k, child));
                    }
                    stack.push((child, path));
                } else if !n.kind.is_special() {
                    // FIFOs, sockets and devices have no key.
                    expected.insert((name.clone(), path, child));
                }
            }
        }
    }
    let mut key_only_keys: HashMap<u64, u32> = HashMap::new();
    let mut pathed: BTreeSet<(String, Vec<u8>, u64)> = BTreeSet::new();
    for (b, k, ino) in &s.keys {
        let n = s
            .inodes
            .get(ino)
            .ok_or(format!("key {b}/{k:?} to missing {ino}"))?;
        if !s.buckets.contains_key(b) {
            return Err(format!("key in missing bucket {b}"));
        }
        if n.key_only {
            *key_only_keys.entry(*ino).or_default() += 1;
        } else {
            pathed.insert((b.clone(), k.clone(), *ino));
        }
    }
    if pathed != expected {
        let missing: Vec<_> = expected.difference(&pathed).collect();
        let extra: Vec<_> = pathed.difference(&expected).collect();
        return Err(format!(
            "keys out of step: missing {missing:?}, extra {extra:?}"
        ));
    }

    // Nothing orphaned.
    for (ino, n) in &s.inodes {
        let reachable = *ino == ROOT_INO
            || links.contains_key(ino)
            || (n.key_only && key_only_keys.get(ino) == Some(&1));
        if !reachable {
            return Err(format!(
                "inode {ino} is orphaned (key-only keys: {:?})",
                key_only_keys.get(ino)
            ));
        }
    }

    // Chunk references.
    let mut refs: BTreeMap<u64, u32> = BTreeMap::new();
    let holders = s
        .inodes
        .values()
        .map(|n| n.layout.clone())
        .chain(
            s.uploads
                .iter()
                .flat_map(|u| u.parts.values().map(|p| p.extents.clone())),
        )
        .chain(s.versions.iter().map(|(_, _, _, row)| row.layout.clone()));
    for layout in holders {
        let distinct: BTreeSet<u64> = layout.iter().map(|e| e.chunk_id).collect();
        for c in distinct {
            *refs.entry(c).or_default() += 1;
        }
    }
    for (c, n) in &refs {
        let chunk = s
            .chunks
            .get(c)
            .ok_or(format!("layout names freed chunk {c}"))?;
        if chunk.refs != *n {
            return Err(format!("chunk {c}: refs {} but {n} holders", chunk.refs));
        }
    }
    for (c, chunk) in &s.chunks {
        if chunk.refs != 0 && !refs.contains_key(c) {
            return Err(format!("chunk {c}: refs {} but no holder", chunk.refs));
        }
    }
    let index: BTreeSet<(u32, u64)> = s
        .chunks
        .iter()
        .flat_map(|(c, info)| info.replicas.iter().map(move |cs| (*cs, *c)))
        .collect();
    if index != s.replica_index {
        return Err("replica index out of step with the chunk map".into());
    }

    // Replicas: on registered, not removed chunk servers, on distinct
    // hosts; no deletion queued for a replica the map lists.
    for (c, chunk) in &s.chunks {
        let mut hosts = BTreeSet::new();
        for cs in &chunk.replicas {
            let info = s
                .servers
                .get(cs)
                .ok_or(format!("chunk {c} on unregistered cs {cs}"))?;
            if info.state == CsState::Removed {
                return Err(format!("chunk {c} on removed cs {cs}"));
            }
            if !hosts.insert(info.host.clone()) {
                return Err(format!("chunk {c}: two replicas on host {}", info.host));
            }
        }
        if chunk.refs > 0 && chunk.released {
            return Err(format!("chunk {c} is referenced and released"));
        }
    }
    for (cs, c) in &s.replica_deletes {
        if s.chunks
            .get(c)
            .is_some_and(|chunk| chunk.replicas.contains(cs))
        {
            return Err(format!(
                "cs {cs} has a deletion of chunk {c} queued while the map lists it there"
            ));
        }
        if s.servers
            .get(cs)
            .is_some_and(|i| i.state == CsState::Removed)
        {
            return Err(format!("a deletion is queued for removed cs {cs}"));
        }
    }
    versions::check(&s)?;
    Ok(())
}

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const BUCKETS: [&str; 2] = ["b1", "b2"];

fn random_key(rng: &mut StdRng) -> Vec<u8> {
    let depth = rng.random_range(1..=3);
    let mut segments: Vec<&str> = Vec::new();
    for _ in 0..depth {
        segments.push(match rng.random_range(0..20) {
            0 => "",
            1 => ".",
            _ => NAMES[rng.random_range(0..NAMES.len())],
        });
    }
    let mut key = segments.join("/").into_bytes();
    if rng.random_bool(0.2) {
        key.push(b'/');
    }
    if key.is_empty() {
        key.push(b'x');
    }
    key
}

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[rng.random_range(0..items.len())].clone())
    }
}

/// One random command of healing: copies joining (or refused), trims,
/// frees, drains and removals of chunk servers.
fn random_heal_command(s: &Snapshot, rng: &mut StdRng, servers: &[u32]) -> Command {
    let chunks: Vec<(u64, ChunkInfo)> = s.chunks.iter().map(|(k, v)| (*k, v.clone())).collect();
    let any_cs = |rng: &mut StdRng| servers[rng.random_range(0..servers.len())];
    let Some((chunk_id, chunk)) = pick(rng, &chunks) else {
        return Command::FreeChunks { chunk_ids: vec![] };
    };
    match rng.random_range(0..10) {
        0..=3 => Command::AddReplica {
            chunk_id,
            version: if rng.random_bool(0.9) {
                chunk.version
            } else {
                chunk.version + 1
            },
            cs_id: any_cs(rng),
            replaces: if rng.random_bool(0.5) {
                pick(rng, &chunk.replicas)
            } else {
                None
            },
        },
        4..=5 => Command::TrimReplica {
            chunk_id,
            version: chunk.version,
            cs_id: pick(rng, &chunk.replicas).unwrap_or_else(|| any_cs(rng)),
        },
        6..=7 => Command::FreeChunks {
            chunk_ids: vec![chunk_id],
        },
        8 => Command::SetCsDraining {
            cs_id: any_cs(rng),
            draining: rng.random_bool(0.5),
        },
        _ => Command::RemoveCs {
            cs_id: any_cs(rng),
            force: rng.random_bool(0.3),
        },
    }
}

/// One random command; failures are expected, broken invariants are not.
fn random_command(f: &mut Fixture, rng: &mut StdRng, cs: u32, servers: &[u32]) -> Command {
    let s = snapshot(&f.db);
    if rng.random_range(0..10) == 0 {
        return random_heal_command(&s, rng, servers);
    }
    let dirs: Vec<u64> = s
        .inodes
        .values()
        .filter(|n| n.kind == NodeKind::Dir && !n.key_only && n.ino != ROOT_INO)
        .map(|n| n.ino)
        .collect();
    let files: Vec<u64> = s
        .inodes
        .values()
        .filter(|n| n.kind == NodeKind::File && !n.key_only)
        .map(|n| n.ino)
        .collect();
    // The snapshot's inodes are a HashMap: sort, so that a seed replays.
    let (mut dirs, mut files) = (dirs, files);
    dirs.sort_unstable();
    files.sort_unstable();
    let dentries: Vec<(u64, Vec<u8>)> = s
        .dentries
        .iter()
        .filter(|(p, _, _)| *p != ROOT_INO)
        .map(|(p, n, _)| (*p, n.clone()))
        .collect();
    let keys: Vec<(String, Vec<u8>)> = s
        .keys
        .iter()
        .map(|(b, k, _)| (b.clone(), k.clone()))
        .collect();
    let bucket = BUCKETS[rng.random_range(0..BUCKETS.len())].to_string();
    let name = NAMES[rng.random_range(0..NAMES.len())].as_bytes().to_vec();
    let now_ns = rng.random_range(1..1_000_000);
    let chunk = |f: &mut Fixture, owner: u64| match f.run(Command::AllocateChunk {
        owner,
        chain: vec![cs],
    }) {
        Ok(CommandReply::Chunk { chunk_id, .. }) => chunk_id,
        r => panic!("allocation failed: {r:?}"),
    };
    let any_dir = |rng: &mut StdRng| pick(rng, &dirs).unwrap_or(ROOT_INO);
    if rng.random_range(0..8) == 0 {
        return versions::random_command(&s, rng, &bucket, now_ns);
    }
    match rng.random_range(0..100) {
        0..=29 => {
            let key = random_key(rng);
            let mut object = obj(0, "e");
            if !key.ends_with(b"/") || rng.random_bool(0.3) {
                let c = chunk(f, ROOT_INO);
                object.size = 10;
                object.extents = vec![ext(0, c, 0, 10)];
            }
            Command::PutKey {
                bucket,
                key,
                object,
                if_match: None,
                if_none_match: None,
                request_id: 0,
                now_ns,
            }
        }
        30..=44 => {
            let (bucket, key) = pick(rng, &keys).unwrap_or((bucket, random_key(rng)));
            Command::DeleteKey {
                bucket,
                key,
                now_ns,
            }
        }
        45..=49 if rng.random_bool(0.4) => Command::CreateSpecial {
            parent: any_dir(rng),
            name,
            kind: [NodeKind::Fifo, NodeKind::Socket, NodeKind::CharDev][rng.random_range(0..3)],
            mode: 0o600,
            uid: 0,
            gid: 0,
            rdev: 0,
            now_ns,
        },
        45..=59 => Command::CreateNode {
            parent: any_dir(rng),
            name,
            kind: [NodeKind::File, NodeKind::Dir, NodeKind::Symlink][rng.random_range(0..3)],
            mode: 0o644,
            uid: 0,
            gid: 0,
            symlink_target: b"t".to_vec(),
            exclusive: rng.random_bool(0.5),
            now_ns,
        },
        60..=64 => {
            let (parent, name) = pick(rng, &dentries).unwrap_or((ROOT_INO, name));
            if rng.random_range(0..2) == 0 {
                return Command::Unlink {
                    parent,
                    name,
                    now_ns,
                };
            }
            // Conditional: mostly the inode the name names, else another
            // (refused with ENOENT).
            let named = s
                .dentries
                .iter()
                .find(|(p, n, _)| *p == parent && *n == name)
                .map(|(_, _, ino)| *ino);
            let ino = match named {
                Some(ino) if rng.random_range(0..5) != 0 => ino,
                _ => pick(rng, &files).unwrap_or(ROOT_INO),
            };
            Command::UnlinkInode {
                parent,
                name,
                ino,
                now_ns,
            }
        }
        65..=69 => {
            let (parent, name) = pick(rng, &dentries).unwrap_or((ROOT_INO, name));
            Command::Rmdir {
                parent,
                name,
                now_ns,
            }
        }
        70..=82 => {
            let (parent, old) = pick(rng, &dentries).unwrap_or((ROOT_INO, name.clone()));
            Command::Rename {
                parent,
                name: old,
                new_parent: any_dir(rng),
                new_name: name,
                no_replace: rng.random_bool(0.2),
                now_ns,
            }
        }
        83..=87 => Command::Link {
            ino: pick(rng, &files).unwrap_or(ROOT_INO),
            new_parent: any_dir(rng),
            new_name: name,
            now_ns,
        },
        88..=91 => {
            let ino = pick(rng, &files).unwrap_or(ROOT_INO);
            if rng.random_bool(0.15) {
                // A range of one file shared into another (or the same).
                return Command::CloneRange {
                    src: pick(rng, &files).unwrap_or(ROOT_INO),
                    src_offset: rng.random_range(0..20),
                    dst: ino,
                    dst_offset: rng.random_range(0..24),
                    length: rng.random_range(0..12),
                    now_ns,
                };
            }
            if rng.random_bool(0.2) {
                let offset = rng.random_range(0..20);
                return Command::PunchHole {
                    ino,
                    offset,
                    length: rng.random_range(0..12),
                    now_ns,
                };
            }
            if rng.random_bool(0.4) {
                Command::SetAttr {
                    ino,
                    change: AttrChange {
                        size: Some(rng.random_range(0..20)),
                        replicas: rng.random_bool(0.2).then(|| rng.random_range(1..=4)),
                        ..AttrChange::default()
                    },
                    now_ns,
                }
            } else if rng.random_bool(0.2) {
                // Sometimes a minimum above the count: refused.
                Command::SetAttrWithMinimum {
                    ino: pick(rng, &files)
                        .filter(|_| rng.random_bool(0.7))
                        .unwrap_or_else(|| any_dir(rng)),
                    change: AttrChange {
                        replicas: rng.random_bool(0.7).then(|| rng.random_range(1..=4)),
                        ..AttrChange::default()
                    },
                    min_replicas: rng.random_range(0..=4),
                    now_ns,
                }
            } else {
                let c = chunk(f, ROOT_INO);
                let at = rng.random_range(0..15);
                let (extents, size) = (vec![ext(at, c, 0, 5)], at + 5 + rng.random_range(0..5));
                let replace_layout = rng.random_bool(0.3);
                if rng.random_bool(0.7) {
                    Command::CommitWrite {
                        ino,
                        extents,
                        size,
                        etag: String::new(),
                        mtime_ns: 0,
                        chunk_lengths: vec![(c, 5)],
                        replace_layout,
                        now_ns,
                    }
                } else {
                    // Sometimes with a size among the attributes: refused.
                    let write = WriteCommit {
                        ino,
                        extents,
                        size,
                        chunk_lengths: vec![(c, 5)],
                        replace_layout,
                        ..WriteCommit::default()
                    };
                    Command::CommitWriteAttrs {
                        write,
                        attrs: AttrChange {
                            mode: Some(rng.random_range(0..0o7777)),
                            size: rng.random_bool(0.1).then_some(3),
                            ..AttrChange::default()
                        },
                        now_ns,
                    }
                }
            }
        }
        92..=97 => {
            // A whole multipart upload: parts, then completion.
            let id = format!("u{}", rng.random::<u32>());
            let key = random_key(rng);
            if f.run(Command::CreateUpload {
                bucket: bucket.clone(),
                key,
                object: ObjectSpec::default(),
                upload_id: id.clone(),
                created_ns: now_ns,
            })
            .is_ok()
            {
                for number in 1..=3 {
                    let c = chunk(f, ROOT_INO);
                    let part = PartInfo {
                        part_number: number,
                        etag: String::new(),
                        size: 7,
                        extents: vec![ext(0, c, 0, 7)],
                        modified_ns: now_ns,
                        checksums: BTreeMap::new(),
                    };
                    f.run(Command::PutPart {
                        upload_id: id.clone(),
                        part,
                        chunk_lengths: vec![],
                    })
                    .unwrap();
                    check(&f.db).unwrap_or_else(|e| panic!("after PutPart: {e}"));
                }
            }
            if rng.random_bool(0.2) {
                Command::AbortUpload { upload_id: id }
            } else {
                Command::CompleteUpload {
                    upload_id: id,
                    part_numbers: vec![1, 3],
                    etag: "md5-2".into(),
                    if_match: None,
                    if_none_match: None,
                    mtime_ns: 0,
                    request_id: 0,
                    now_ns,
                }
            }
        }
        98 => Command::DeleteBucket {
            name: bucket,
            now_ns,
        },
        _ => Command::CreateBucket {
            name: bucket,
            owner: String::new(),
            now_ns,
        },
    }
}

/// Runs one seeded sequence; returns the most versions rows it had at once.
fn run_seed(seed: u64, steps: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut f = Fixture::new();
    let mut servers = Vec::new();
    for host in ["h", "h2", "h3", "h4"] {
        match f
            .run(Command::RegisterCs {
                host: host.into(),
                tier: 0,
                capacity: 0,
                journal: false,
                now_ns: 1,
            })
            .unwrap()
        {
            CommandReply::CsRegistered { cs_id } => servers.push(cs_id),
            r => panic!("{r:?}"),
        }
    }
    // Chunks are allocated on the first, which healing commands never
    // remove (allocation must keep working); copies go to the others.
    let cs = servers[0];
    let heal_targets: Vec<u32> = servers.clone();
    for b in BUCKETS {
        f.bucket(b);
    }
    let mut applied = 0usize;
    let mut most_versions = 0usize;
    for step in 0..steps {
        let mut cmd = random_command(&mut f, &mut rng, cs, &heal_targets);
        if let Command::RemoveCs { cs_id, .. } | Command::SetCsDraining { cs_id, .. } = &mut cmd {
            if *cs_id == cs {
                // Keep the allocation target.
                *cs_id = heal_targets[1];
            }
        }
        let result = f.run(cmd.clone());
        if result.is_ok() {
            applied += 1;
        }
        if let Err(e) = check(&f.db) {
            panic!("seed {seed}, step {step}: invariant broken after {cmd:?} -> {result:?}: {e}");
        }
        most_versions = most_versions.max(snapshot(&f.db).versions.len());
    }
    // The sequence did real work, not only refused commands.
    assert!(
        applied > steps / 4,
        "seed {seed}: only {applied} of {steps} commands applied"
    );
    // Emptying every bucket through S3 leaves only empty directories and
    // chunks nobody holds (allocated, never committed).
    let keys: Vec<(String, Vec<u8>)> = snapshot(&f.db)
        .keys
        .iter()
        .map(|(b, k, _)| (b.clone(), k.clone()))
        .collect();
    for (b, k) in keys {
        let _ = f.run(Command::DeleteKey {
            bucket: b,
            key: k,
            now_ns: 1,
        });
    }
    versions::remove_all(&mut f);
    check(&f.db).unwrap_or_else(|e| panic!("seed {seed}: after emptying: {e}"));
    let s = snapshot(&f.db);
    assert!(
        s.inodes.values().all(|n| n.layout.is_empty()),
        "seed {seed}: content left after deleting every key"
    );
    assert!(
        snapshot(&f.db).chunks.values().all(|c| c.refs == 0),
        "seed {seed}: chunks still referenced after deleting every version"
    );
    let _ = node;
    most_versions
}

#[test]
fn random_commands_keep_the_invariants() {
    if let Some(seed) = cairn_testkit::given_seed() {
        eprintln!("replaying seed {seed}");
        run_seed(seed, 2000);
        return;
    }
    let mut with_versions = 0;
    for seed in 0..16 {
        if run_seed(seed, 300) > 3 {
            with_versions += 1;
        }
    }
    // The sequences went through versioned buckets, not only plain ones.
    assert!(
        with_versions >= 8,
        "only {with_versions} of 16 seeds kept versions"
    );
}
