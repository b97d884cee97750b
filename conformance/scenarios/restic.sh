#!/usr/bin/env bash
# restic (Debian) with its S3 backend on the gateway: init (makes the
# bucket), backup of a real directory tree, a second backup after changes,
# snapshots, diff, check --read-data, restore of both snapshots compared
# with the sources (bytes, symlinks, empty directories, modes, mtimes),
# forget --prune, check again.
. "$CONFORMANCE_DIR/lib/common.sh"
require_cmd restic
run "restic version" restic version

B=$(bucket_name repo)
export RESTIC_REPOSITORY="s3:$CAIRN_S3_ENDPOINT/$B/restic"
export RESTIC_PASSWORD="conformance-$RANDOM-$RANDOM"
export RESTIC_CACHE_DIR="$SCENARIO_TMP/cache"
W="$SCENARIO_TMP/w"
mkdir -p "$W"
cd "$W" || fail "cd $W"
RESTIC=(restic)

# Paths, types, modes and mtimes (seconds) of a tree's entries.
tree_meta() {
    (cd "$1" && find . -mindepth 1 \( -type f -o -type d \) -printf '%P %y %m %TY-%Tm-%Td %TH:%TM:%.2TS\n' |
        LC_ALL=C sort)
    (cd "$1" && find . -type l -printf '%P -> %l\n' | LC_ALL=C sort)
}

assert_restored() {
    local src="$1" dst="$2" desc="$3"
    [ -d "$dst" ] || fail "$desc: nothing restored at $dst"
    diff -r --no-dereference "$src" "$dst" >"$SCENARIO_TMP/diff.out" 2>&1 ||
        fail "$desc: restored tree differs: $(head -n 5 "$SCENARIO_TMP/diff.out" | tr '\n' ' ')"
    local a b
    a=$(tree_meta "$src")
    b=$(tree_meta "$dst")
    if [ "$a" != "$b" ]; then
        diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 10
        fail "$desc: restored modes, mtimes or symlinks differ: $(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
    fi
}

step "init (restic makes the bucket)"
run "restic init" "${RESTIC[@]}" init

step "backup a real tree"
make_real_tree "$W/data"
cp -a "$W/data" "$W/data.v1"
run "restic backup (first)" "${RESTIC[@]}" backup --host conformance data
capture_to "$W/snaps1.json" "restic snapshots --json" "${RESTIC[@]}" snapshots --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/snaps1.json")" "1" "one snapshot after the first backup"
snap1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["short_id"])' "$W/snaps1.json")

step "change the tree, backup again"
echo "changed by the conformance test" >>"$W/data/README.md"
rm -f "$W/data/Cargo.toml"
mkdir -p "$W/data/new-dir"
random_file "$W/data/new-dir/new.bin" 3000000
run "restic backup (second)" "${RESTIC[@]}" backup --host conformance data
capture_to "$W/snaps2.json" "restic snapshots --json" "${RESTIC[@]}" snapshots --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/snaps2.json")" "2" "two snapshots after the second backup"
snap2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["short_id"])' "$W/snaps2.json")
run "restic snapshots" "${RESTIC[@]}" snapshots

step "diff between the snapshots"
capture "restic diff" "${RESTIC[@]}" diff "$snap1" "$snap2"
assert_contains "$OUT" "M    /data/README.md" "restic diff shows the modified file"
assert_contains "$OUT" "-    /data/Cargo.toml" "restic diff shows the removed file"
assert_contains "$OUT" "+    /data/new-dir/new.bin" "restic diff shows the added file"

step "check --read-data"
run "restic check --read-data" "${RESTIC[@]}" check --read-data

step "restore both snapshots, compare with the sources"
run "restic restore latest" "${RESTIC[@]}" restore latest --target "$W/restore2"
assert_restored "$W/data" "$W/restore2/data" "latest snapshot restored"
run "restic restore (first)" "${RESTIC[@]}" restore "$snap1" --target "$W/restore1"
assert_restored "$W/data.v1" "$W/restore1/data" "first snapshot restored"
capture "restic ls latest" "${RESTIC[@]}" ls latest
assert_contains "$OUT" "/data/new-dir/new.bin" "restic ls lists a file of the snapshot"

step "forget --prune, check again"
run "restic forget --prune" "${RESTIC[@]}" forget --keep-last 1 --prune
capture_to "$W/snaps3.json" "restic snapshots --json" "${RESTIC[@]}" snapshots --json
assert_eq "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), d[0]["short_id"])' "$W/snaps3.json")" "1 $snap2" "one snapshot (the latest) left after forget"
run "restic check --read-data (after prune)" "${RESTIC[@]}" check --read-data
rm -rf "$W/restore2"
run "restic restore latest (after prune)" "${RESTIC[@]}" restore latest --target "$W/restore2"
assert_restored "$W/data" "$W/restore2/data" "latest snapshot restored after prune"
finish "all restic checks passed"
