#!/usr/bin/env bash
# s3fs (Debian) mounts a bucket over the gateway (path style, SigV4): a
# tree and a 40 MiB file (multipart) written through the mount are objects
# with the right bytes; objects put over S3 are read through the mount;
# rename, delete, mkdir/rmdir through the mount; after a remount (no page
# cache) everything reads back the same.
. "$CONFORMANCE_DIR/lib/common.sh"
require_cmd s3fs
[ -e /dev/fuse ] || missing_client "/dev/fuse (FUSE is not available on this machine)"
run "s3fs --version" s3fs --version

B=$(bucket_name data)
W="$SCENARIO_TMP/w"
MNT="$SCENARIO_TMP/mnt"
mkdir -p "$W" "$MNT"
printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$SCENARIO_TMP/passwd"
chmod 600 "$SCENARIO_TMP/passwd"
S3FS_PID=""

unmount() {
    if mountpoint -q "$MNT"; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null
    fi
    if [ -n "$S3FS_PID" ]; then
        local i
        for i in $(seq 1 100); do
            kill -0 "$S3FS_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$S3FS_PID" 2>/dev/null
        wait "$S3FS_PID" 2>/dev/null
        S3FS_PID=""
    fi
    mountpoint -q "$MNT" && umount -l "$MNT" 2>/dev/null
    return 0
}
trap unmount EXIT

mount_bucket() {
    s3fs "$B" "$MNT" -f \
        -o "passwd_file=$SCENARIO_TMP/passwd,url=$CAIRN_S3_ENDPOINT,use_path_request_style,endpoint=us-east-1" \
        -o "sigv4,multipart_size=8,dbglevel=warn,logfile=$SCENARIO_TMP/s3fs.log,stat_cache_expire=1" &
    S3FS_PID=$!
    local deadline=$((SECONDS + 30))
    until mountpoint -q "$MNT"; do
        kill -0 "$S3FS_PID" 2>/dev/null || fail "s3fs exited before mounting: $(tail -n 5 "$SCENARIO_TMP/s3fs.log" 2>/dev/null | tr '\n' ' ')"
        [ "$SECONDS" -lt "$deadline" ] || fail "s3fs did not mount within 30 s: $(tail -n 5 "$SCENARIO_TMP/s3fs.log" 2>/dev/null | tr '\n' ' ')"
        sleep 0.1
    done
}

step "mount"
s3_make_bucket "$B"
mount_bucket

step "write a tree and a 40 MiB file through the mount"
make_tree "$W/tree"
run "cp -r into the mount" cp -r "$W/tree" "$MNT/tree"
random_file "$W/forty" $((40 * 1024 * 1024))
run "cp of 40 MiB into the mount" cp "$W/forty" "$MNT/forty"
run "sync" sync

step "the objects are there over S3"
for f in README.txt data/blob-3 docs/numbers.txt src/deep/er/still/leaf.txt; do
    etag=$(s3_etag "$B" "tree/$f")
    assert_eq "$etag" "\"$(md5sum <"$W/tree/$f" | cut -c 1-32)\"" "ETag of tree/$f written through s3fs"
done
code=$(s3_curl "$B/forty")
assert_eq "$code" "200" "GET of the 40 MiB object written through s3fs"
assert_same_file "$W/forty" "$SCENARIO_TMP/s3_curl.body" "40 MiB object written through s3fs, read over S3"
assert_multipart "$B" forty "" "s3fs wrote 40 MiB with multipart_size=8"

step "objects put over S3 read through the mount"
random_file "$W/from-s3" 777777
code=$(s3_curl -T "$W/from-s3" "$B/tree/docs/from-s3.bin")
assert_eq "$code" "200" "PUT over S3"
wait_until 10 "the object put over S3 appears in the mount" test -f "$MNT/tree/docs/from-s3.bin"
assert_same_file "$W/from-s3" "$MNT/tree/docs/from-s3.bin" "object put over S3, read through s3fs"
cp "$W/from-s3" "$W/tree/docs/from-s3.bin"

step "rename, delete, mkdir, rmdir through the mount"
run "mv in the mount" mv "$MNT/tree/src/file-9.bin" "$MNT/tree/src/renamed-9.bin"
mv "$W/tree/src/file-9.bin" "$W/tree/src/renamed-9.bin"
code=$(s3_curl -I "$B/tree/src/file-9.bin")
assert_eq "$code" "404" "HEAD of the old name after a rename through s3fs"
assert_eq "$(s3_etag "$B" tree/src/renamed-9.bin)" "\"$(md5sum <"$W/tree/src/renamed-9.bin" | cut -c 1-32)\"" "ETag of the renamed object"
run "rm in the mount" rm "$MNT/tree/src/file-10.bin"
rm "$W/tree/src/file-10.bin"
code=$(s3_curl -I "$B/tree/src/file-10.bin")
assert_eq "$code" "404" "HEAD of a file removed through s3fs"
run "mkdir in the mount" mkdir "$MNT/newdir"
run "rmdir in the mount" rmdir "$MNT/newdir"
[ ! -e "$MNT/newdir" ] || fail "newdir still there after rmdir"

step "remount, read everything back"
unmount
mount_bucket
assert_same_tree "$W/tree" "$MNT/tree" "tree read back through s3fs after a remount"
assert_same_file "$W/forty" "$MNT/forty" "40 MiB file read back through s3fs after a remount"
listed=$(cd "$MNT" && ls -1 | LC_ALL=C sort | tr '\n' ' ')
assert_eq "$listed" "forty tree " "top of the mounted bucket"
unmount
finish "all s3fs checks passed"
