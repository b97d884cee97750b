#!/usr/bin/env bash
# The FUSE door and the S3 door show the same files: a tree written through
# `cairn mount` reads back through rclone over S3 (bytes and MD5 ETags),
# and a tree written over S3 by rclone reads back through the mount;
# changes and deletes on one side show on the other.
#
# Not applicable (exit 78) while the binary has no `cairn mount`; once it
# has, a machine without FUSE fails the scenario in CI.
. "$CONFORMANCE_DIR/lib/common.sh"
if ! "$CAIRN_BIN" mount --help >/dev/null 2>&1; then
    echo "N/A: \`cairn mount\` is not in this binary yet" >&2
    exit 78
fi
[ -e /dev/fuse ] || missing_client "/dev/fuse (FUSE is not available on this machine)"
command -v fusermount3 >/dev/null 2>&1 || [ "$(id -u)" -eq 0 ] || missing_client "fusermount3 (Debian package fuse3)"
require_cmd rclone

CONF="$SCENARIO_TMP/rclone.conf"
write_rclone_conf "$CONF"
RC=(rclone --config "$CONF" --retries 1 --low-level-retries 2 --s3-upload-cutoff 16M --s3-chunk-size 16M)
W="$SCENARIO_TMP/w"
MNT="$SCENARIO_TMP/mnt"
mkdir -p "$W" "$MNT"
MOUNT_PID=""

trap stop_cairn_mount EXIT

step "mount"
mount_args=()
"$CAIRN_BIN" mount --help 2>&1 | grep -q -- '--owner' && mount_args+=(--owner "$AWS_ACCESS_KEY_ID")
echo "\$ $CAIRN_BIN -c local mount ${mount_args[*]} $MNT"
"$CAIRN_BIN" -c local mount "${mount_args[@]}" "$MNT" >"$SCENARIO_TMP/mount.log" 2>&1 &
MOUNT_PID=$!
deadline=$((SECONDS + 30))
until mountpoint -q "$MNT"; do
    kill -0 "$MOUNT_PID" 2>/dev/null || fail "cairn mount exited before mounting: $(tail -n 5 "$SCENARIO_TMP/mount.log" | tr '\n' ' ')"
    [ "$SECONDS" -lt "$deadline" ] || fail "cairn mount did not mount within 30 s: $(tail -n 5 "$SCENARIO_TMP/mount.log" | tr '\n' ' ')"
    sleep 0.1
done
grep -q " $MNT fuse" /proc/mounts || fail "$MNT is mounted but not as a FUSE filesystem: $(grep " $MNT " /proc/mounts)"

step "a bucket made with mkdir in the mount is an S3 bucket"
B1=$(bucket_name from-mount)
run "mkdir at the top of the mount" mkdir "$MNT/$B1"
"$CAIRN_BIN" bucket allow "$AWS_ACCESS_KEY_ID" "$B1" --owner >"$W/allow.log" 2>&1 ||
    fail "cairn bucket allow $B1: $(error_lines "$W/allow.log")"
capture "rclone lsd" "${RC[@]}" lsd cairn:
assert_contains "$OUT" " $B1" "rclone lists the bucket made by mkdir in the mount"

step "write a tree through the mount, read it over S3"
make_tree "$W/tree1"
random_file "$W/tree1/data/ninety" $((90 * 1024 * 1024))
run "cp -r into the mount" cp -r "$W/tree1" "$MNT/$B1/tree"
run "sync" sync
assert_same_tree "$W/tree1" "$MNT/$B1/tree" "tree read back through the mount"
run "rclone check (sizes and MD5 ETags of files written through the mount)" "${RC[@]}" check "$W/tree1" "cairn:$B1/tree"
run "rclone copy down" "${RC[@]}" copy "cairn:$B1/tree" "$W/tree1.s3"
assert_same_tree "$W/tree1" "$W/tree1.s3" "tree written through the mount, read over S3"
capture_to "$W/lsjson1.json" "rclone lsjson -R" "${RC[@]}" lsjson -R --files-only "cairn:$B1/tree"
listed=$(python3 -c 'import json,sys; [print("%s %d" % (o["Path"], o["Size"])) for o in json.load(open(sys.argv[1]))]' "$W/lsjson1.json" | LC_ALL=C sort)
assert_eq "$listed" "$(cd "$W/tree1" && find . -type f -printf '%P %s\n' | LC_ALL=C sort)" "S3 listing of the tree written through the mount"

step "write a tree over S3, read it through the mount"
B2=$(bucket_name from-s3)
run "rclone mkdir" "${RC[@]}" mkdir "cairn:$B2"
make_tree "$W/tree2"
cp "$(big_file)" "$W/tree2/data/two-hundred"
run "rclone copy up (multipart for the large file)" "${RC[@]}" copy "$W/tree2" "cairn:$B2/tree"
wait_until 10 "the bucket made over S3 appears in the mount" test -d "$MNT/$B2/tree/data"
assert_same_tree "$W/tree2" "$MNT/$B2/tree" "tree written over S3, read through the mount"

step "changes and deletes cross the doors"
echo "appended through the mount" >>"$MNT/$B2/tree/README.txt"
echo "appended through the mount" >>"$W/tree2/README.txt"
run "sync" sync
capture "rclone cat (a file changed through the mount)" "${RC[@]}" cat "cairn:$B2/tree/README.txt"
assert_eq "$OUT" "$(cat "$W/tree2/README.txt")" "a file appended through the mount, read over S3"
run "rclone check (ETag of a file changed in place)" "${RC[@]}" check "$W/tree2" "cairn:$B2/tree"
run "rclone deletefile" "${RC[@]}" deletefile "cairn:$B2/tree/docs/numbers.txt"
wait_until 5 "a file deleted over S3 disappears from the mount" bash -c '! test -e "$1"' _ "$MNT/$B2/tree/docs/numbers.txt"
run "rm through the mount" rm "$MNT/$B1/tree/README.txt"
capture "rclone lsf (after rm through the mount)" "${RC[@]}" lsf --files-only "cairn:$B1/tree" --include /README.txt
assert_eq "$OUT" "" "a file removed through the mount is gone over S3"

step "unmount"
unmount_cairn
finish "all FUSE door checks passed"
