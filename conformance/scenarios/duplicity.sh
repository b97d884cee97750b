#!/usr/bin/env bash
# duplicity (Debian) with its boto3 S3 backend on the gateway: full backup
# of a real tree (GnuPG-encrypted volumes of 2 MiB), an incremental one,
# collection-status, verify --compare-data, list-current-files, restore of
# the latest and of the full backup compared with the sources.
. "$CONFORMANCE_DIR/lib/common.sh"
require_cmd duplicity gpg
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || missing_client "python3-boto3 (duplicity's boto3+s3 backend)"
run "duplicity --version" duplicity --version

B=$(bucket_name backups)
URL="boto3+s3://$B/dup"
export PASSPHRASE="conformance-$RANDOM-$RANDOM"
export GNUPGHOME="$SCENARIO_TMP/gnupg"
mkdir -p -m 700 "$GNUPGHOME"
W="$SCENARIO_TMP/w"
mkdir -p "$W"
DUP=(duplicity --s3-endpoint-url "$CAIRN_S3_ENDPOINT" --archive-dir "$SCENARIO_TMP/archive"
    --name conformance --volsize 2 --num-retries 2)

step "full backup of a real tree"
# duplicity's boto3 backend does not make buckets.
s3_make_bucket "$B"
make_real_tree "$W/data"
cp -a "$W/data" "$W/data.v1"
run "duplicity full" "${DUP[@]}" full "$W/data" "$URL"
# duplicity names backup sets by their start time in whole seconds: the
# incremental one must start in a later second.
full_done=$(date +%s)
wait_until 5 "the clock passes the full backup's second" bash -c '[ "$(date +%s)" -gt "$1" ]' _ "$full_done"

step "incremental backup"
echo "changed by the conformance test" >>"$W/data/README.md"
rm -f "$W/data/Cargo.toml"
mkdir -p "$W/data/new-dir"
random_file "$W/data/new-dir/new.bin" 3000000
run "duplicity incremental" "${DUP[@]}" incremental "$W/data" "$URL"

step "collection-status"
capture "duplicity collection-status" "${DUP[@]}" collection-status "$URL"
assert_contains "$OUT" "Number of contained backup sets: 2" "two backup sets in the chain"
assert_contains "$OUT" "No orphaned or incomplete backup sets found." "no orphaned or incomplete sets"
nvol=$(printf '%s\n' "$OUT" | awk '$1 == "Full" {print $NF}')
[ "${nvol:-0}" -ge 3 ] || fail "the full backup should span several 2 MiB volumes, has ${nvol:-none}"

step "verify --compare-data"
capture "duplicity verify --compare-data" "${DUP[@]}" verify --compare-data "$URL" "$W/data"
assert_contains "$OUT" ", 0 differences found." "verify finds no difference"

step "list-current-files"
capture "duplicity list-current-files" "${DUP[@]}" list-current-files "$URL"
assert_contains "$OUT" "new-dir/new.bin" "list-current-files lists the new file"
case "$OUT" in *" Cargo.toml"*) fail "list-current-files still lists the removed Cargo.toml" ;; esac

step "restore the latest and the full backup"
run "duplicity restore (latest)" "${DUP[@]}" restore "$URL" "$W/restore-latest"
diff -r --no-dereference "$W/data" "$W/restore-latest" >"$W/diff.out" 2>&1 ||
    fail "latest restore differs from the source: $(head -n 5 "$W/diff.out" | tr '\n' ' ')"
capture "duplicity collection-status (times)" "${DUP[@]}" collection-status "$URL"
# The full set's time, as duplicity prints it (e.g. "Wed Nov 25 13:16:33 2026").
full_time=$(printf '%s\n' "$OUT" | sed -n 's/^ *Full *\(.*[0-9]\{4\}\) *[0-9]* *$/\1/p' | head -n 1)
[ -n "$full_time" ] || fail "cannot read the full backup's time from collection-status"
run "duplicity restore --time (full)" "${DUP[@]}" restore --time "$(date -d "$full_time" +%s)" "$URL" "$W/restore-full"
diff -r --no-dereference "$W/data.v1" "$W/restore-full" >"$W/diff.out" 2>&1 ||
    fail "restore of the full backup differs from the first source: $(head -n 5 "$W/diff.out" | tr '\n' ' ')"

step "verify notices a change"
echo "tampered" >>"$W/data/README.md"
"${DUP[@]}" verify --compare-data "$URL" "$W/data" >"$W/verify2.out" 2>&1
grep -q ", 1 difference found\.\|, 1 differences found\." "$W/verify2.out" ||
    fail "verify after a local change should find 1 difference: $(error_lines "$W/verify2.out")"
finish "all duplicity checks passed"
