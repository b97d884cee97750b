# The aws-cli scenario (with s3api versioning, tagging and object lock), shared by the Debian awscli (v2) and the PyPI one
# (v1, newest botocore: default integrity checksums). The caller sets
# AWS_BIN and AWS_EXPECT_CHECKSUMS (1 when the client sends CRC32 checksums
# by default) and sources this file after lib/common.sh.

[ -x "$AWS_BIN" ] || missing_client "$AWS_BIN"
require_cmd curl
run "aws --version" "$AWS_BIN" --version

S3=("$AWS_BIN" --endpoint-url "$CAIRN_S3_ENDPOINT" --region us-east-1)
B=$(bucket_name data)
W="$SCENARIO_TMP/w"
mkdir -p "$W"

# aws_run DESC ARGS...: runs the aws-cli with --debug (the debug log is kept in
# $SCENARIO_TMP/aws-debug/), its stdout into $OUT. Fails on a non-zero exit,
# and also when the command only succeeded after a retry (a read timeout or
# a 5xx that the client hid), naming the request that went wrong.
AWS_N=0
mkdir -p "$SCENARIO_TMP/aws-debug"
aws_run() {
    local desc="$1"
    shift
    AWS_N=$((AWS_N + 1))
    local dbg
    dbg="$SCENARIO_TMP/aws-debug/$(printf '%03d' "$AWS_N").log"
    echo "\$ aws $* (debug log: aws-debug/$(basename "$dbg"))"
    "${S3[@]}" --debug --cli-read-timeout 20 "$@" >"$SCENARIO_TMP/aws-out" 2>"$dbg"
    local rc=$?
    OUT=$(cat "$SCENARIO_TMP/aws-out")
    printf '%s\n' "$OUT" | head -n 50
    if [ "$rc" -ne 0 ]; then
        fail "$desc: exit $rc: $(grep -v ' - DEBUG - \|^Traceback\|^  File\|^    ' "$dbg" | error_lines /dev/stdin) $(aws_last_exchange "$dbg")"
    fi
    if grep -qE -- '- DEBUG - [Rr]etry needed|Read timeout on endpoint|MissingHeaderBodySeparatorDefect' "$dbg"; then
        soft_fail "$desc: succeeded only after a retry: $(aws_retry_reason "$dbg")"
    fi
}

aws_to() {
    local file="$1"
    shift
    aws_run "$@"
    printf '%s\n' "$OUT" >"$file"
}

# The last request sent and the last response seen in a debug log.
aws_last_exchange() {
    local req resp
    req=$(grep -o 'Sending http request: <AWSPreparedRequest stream_output=[A-Za-z]*, method=[A-Z]*, url=[^,]*' "$1" | tail -n 1 | sed 's/.*method=/request: /; s/, url=/ /')
    resp=$(grep -A1 'Response body:' "$1" | grep -v 'Response body:\|^--' | tail -n 1 | cut -c 1-300)
    printf '[%s] [response: %s]' "$req" "$resp"
}

# Why a command was retried: the request, and what the client saw.
aws_retry_reason() {
    local why req
    why=$(grep -oE -- 'retryable exception caught: .*|- DEBUG - [Rr]etry needed.*|MissingHeaderBodySeparatorDefect\(\)\], unparsed data: .{0,60}' "$1" | head -n 1)
    req=$(grep -B400 -m1 -E -- '- DEBUG - [Rr]etry needed' "$1" | grep -o 'Sending http request: <AWSPreparedRequest stream_output=[A-Za-z]*, method=[A-Z]*, url=[^,]*' | tail -n 1 | sed 's/.*method=//; s/, url=/ /')
    if grep -q 'MissingHeaderBodySeparatorDefect' "$1" && grep -q 'Received a non 100 Continue response' "$1"; then
        printf '%s' "the gateway answered a PUT with Content-Length: 0 and Expect: 100-continue with its final 200 and no 100 Continue; this aws-cli's botocore then keeps that status line for the keep-alive connection (boto/botocore#3010), misparses the next response on it and waits for its read timeout before retrying. Send 100 Continue for an empty body too (as S3 does), or close the connection after such a reply. Client saw: $why"
    else
        printf '%s' "${req:+request $req: }$why"
    fi
}

json_get() {
    # json_get FILE EXPR: a value out of a client's JSON output.
    python3 -c 'import json,sys; t=open(sys.argv[1]).read(); d=json.loads(t) if t.strip() else {}; print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

step "mb"
aws_run "aws s3 mb s3://$B" s3 mb "s3://$B"
aws_run "aws s3 ls (ListBuckets)" s3 ls
out=$OUT
assert_contains "$out" " $B" "aws s3 ls lists the new bucket"
# us-east-1: S3 answers 200 to the owner making its bucket again.
aws_run "aws s3 mb of one's own bucket again (us-east-1)" s3 mb "s3://$B"
aws_run "aws s3 ls after mb again" s3 ls
[ "$(grep -c " $B\$" <<<"$OUT")" = 1 ] || fail "aws s3 ls lists $B once: $OUT"

if [ -n "${CAIRN_S3_CA_BUNDLE:-}" ]; then
    step "a wrong CA bundle fails with a certificate error"
    wrong_ca_bundle "$W/wrong-ca.pem"
    expect_fail "aws s3 ls trusting another CA" env AWS_MAX_ATTEMPTS=1 \
        "${S3[@]}" --ca-bundle "$W/wrong-ca.pem" --cli-read-timeout 10 s3 ls
    grep -qiE 'CERTIFICATE_VERIFY_FAILED|certificate verify failed' "$SCENARIO_TMP/last-output" ||
        fail "a wrong CA bundle did not fail with a certificate error: $(error_lines "$SCENARIO_TMP/last-output")"
fi

step "cp up and down, small file"
random_file "$W/small" 12345
aws_run "aws s3 cp (PutObject, small)" s3 cp --no-progress "$W/small" "s3://$B/dir/small.bin"
aws_run "aws s3 cp (GetObject, small)" s3 cp --no-progress "s3://$B/dir/small.bin" "$W/small.back"
assert_same_file "$W/small" "$W/small.back" "small file read back"
printf '' >"$W/zero"
aws_run "aws s3 cp (PutObject, empty)" s3 cp --no-progress "$W/zero" "s3://$B/dir/zero"
aws_run "aws s3 cp (GetObject, empty)" s3 cp --no-progress "s3://$B/dir/zero" "$W/zero.back"
assert_same_file "$W/zero" "$W/zero.back" "empty file read back"

step "cp up and down, 200 MiB (multipart)"
BIG=$(big_file)
aws_run "aws s3 cp (multipart upload, 200 MiB)" s3 cp --no-progress "$BIG" "s3://$B/big/200MiB"
aws_to "$W/head-big.json" "aws s3api head-object (multipart object)" s3api head-object --bucket "$B" --key big/200MiB
assert_eq "$(json_get "$W/head-big.json" 'd["ContentLength"]')" "209715200" "size of the multipart object"
etag=$(json_get "$W/head-big.json" 'd["ETag"]')
case "$etag" in
*-[0-9]*) ;;
*) fail "the 200 MiB upload should be multipart (ETag MD5-N), ETag is $etag" ;;
esac
aws_run "aws s3 cp (GetObject, 200 MiB)" s3 cp --no-progress "s3://$B/big/200MiB" "$W/big.back"
assert_same_file "$BIG" "$W/big.back" "200 MiB file read back"
rm -f "$W/big.back"

step "s3api head-object"
aws_to "$W/head.json" "aws s3api head-object" s3api head-object --bucket "$B" --key dir/small.bin
assert_eq "$(json_get "$W/head.json" 'd["ContentLength"]')" "12345" "head-object ContentLength"
assert_eq "$(json_get "$W/head.json" 'd["ETag"]')" "\"$(md5sum <"$W/small" | cut -c 1-32)\"" "head-object ETag is the MD5"
expect_fail "head-object of a missing key" "${S3[@]}" s3api head-object --bucket "$B" --key no/such/key
assert_contains "$(cat "$SCENARIO_TMP/last-output")" "404" "head-object of a missing key answers 404"

step "s3api copy-object"
aws_to "$W/copy.json" "aws s3api copy-object" s3api copy-object --bucket "$B" --key copies/small-copy \
    --copy-source "$B/dir/small.bin"
aws_run "aws s3 cp (GetObject of the copy)" s3 cp --no-progress "s3://$B/copies/small-copy" "$W/copy.back"
assert_same_file "$W/small" "$W/copy.back" "copy-object's copy"
aws_to "$W/head-copy.json" "aws s3api head-object (copy)" s3api head-object --bucket "$B" --key copies/small-copy
assert_eq "$(json_get "$W/head-copy.json" 'd["ETag"]')" "$(json_get "$W/head.json" 'd["ETag"]')" "the copy's ETag"
aws_run "aws s3api copy-object (200 MiB, metadata REPLACE)" s3api copy-object --bucket "$B" --key copies/big-copy \
    --copy-source "$B/big/200MiB" --metadata-directive REPLACE --metadata origin=conformance \
    --content-type application/x-test
aws_to "$W/head-bigcopy.json" "aws s3api head-object (big copy)" s3api head-object --bucket "$B" --key copies/big-copy
assert_eq "$(json_get "$W/head-bigcopy.json" 'd["ContentLength"]')" "209715200" "size of the copied 200 MiB object"
assert_eq "$(json_get "$W/head-bigcopy.json" 'd["Metadata"].get("origin")')" "conformance" "metadata replaced by copy-object"
assert_eq "$(json_get "$W/head-bigcopy.json" 'd["ContentType"]')" "application/x-test" "content type replaced by copy-object"

step "presign then curl"
aws_run "aws s3 presign" s3 presign "s3://$B/dir/small.bin" --expires-in 300
url=$OUT
# aws-cli v1 presigns with SigV2 by default, v2 with SigV4: both must work.
assert_contains "$url" "Signature=" "a presigned URL"
run "curl of the presigned URL" curl -sS --fail-with-body --noproxy '*' -o "$W/presigned.back" "$url"
assert_same_file "$W/small" "$W/presigned.back" "object read through a presigned URL"
bad="${url%?}0"
[ "$bad" != "$url" ] || bad="${url%?}1"
code=$(curl -sS --noproxy '*' -o "$W/presigned-bad" -w '%{http_code}' "$bad")
assert_eq "$code" "403" "a presigned URL with a broken signature is refused"
code=$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' "$CAIRN_S3_ENDPOINT/$B/dir/small.bin")
assert_eq "$code" "403" "an anonymous GET is refused"

step "sync a tree up"
make_tree "$W/tree"
aws_run "aws s3 sync up" s3 sync --no-progress "$W/tree" "s3://$B/tree/"
aws_to "$W/ls-r.txt" "aws s3 ls --recursive" s3 ls --recursive "s3://$B/tree/"
listed=$(awk '{ $1=$2=$3=""; sub(/^ +/, ""); print }' "$W/ls-r.txt" | sed 's|^tree/||' | LC_ALL=C sort)
assert_eq "$listed" "$(list_files "$W/tree")" "aws s3 ls --recursive lists the synced tree"
aws_run "aws s3 sync up again" s3 sync --no-progress "$W/tree" "s3://$B/tree/"
out=$OUT
assert_eq "$out" "" "a second sync up has nothing to do"

step "ls without --recursive"
aws_to "$W/ls.txt" "aws s3 ls (one level)" s3 ls "s3://$B/tree/"
prefixes=$(awk '$1 == "PRE" { $1=""; sub(/^ /, ""); print }' "$W/ls.txt" | LC_ALL=C sort)
want_prefixes=$(cd "$W/tree" && find . -mindepth 1 -maxdepth 1 -type d | sed 's|^\./||; s|$|/|' | LC_ALL=C sort)
assert_eq "$prefixes" "$want_prefixes" "aws s3 ls shows the top directories as PRE"
files=$(awk '$1 != "PRE" { $1=$2=$3=""; sub(/^ +/, ""); print }' "$W/ls.txt" | LC_ALL=C sort)
want_files=$(cd "$W/tree" && find . -mindepth 1 -maxdepth 1 -type f | sed 's|^\./||' | LC_ALL=C sort)
assert_eq "$files" "$want_files" "aws s3 ls shows the top files"

step "sync the tree down"
aws_run "aws s3 sync down" s3 sync --no-progress "s3://$B/tree/" "$W/tree.down"
assert_same_tree "$W/tree" "$W/tree.down" "tree synced down"

step "sync changes both ways"
echo "changed" >"$W/tree/README.txt"
rm "$W/tree/src/file-7.bin"
echo "new" >"$W/tree/docs/new.txt"
aws_run "aws s3 sync --delete up" s3 sync --no-progress --delete "$W/tree" "s3://$B/tree/"
aws_run "aws s3 cp (an object added remotely)" s3 cp --no-progress "$W/small" "s3://$B/tree/remote/added.bin"
aws_run "aws s3 sync --delete down" s3 sync --no-progress --delete "s3://$B/tree/" "$W/tree.down"
cp "$W/small" "$W/tree/remote-added.expected"
mkdir -p "$W/tree/remote" && mv "$W/tree/remote-added.expected" "$W/tree/remote/added.bin"
assert_same_tree "$W/tree" "$W/tree.down" "tree synced down after changes on both sides"

step "list-objects-v2 with pagination"
mkdir -p "$W/page"
for i in $(seq -w 1 25); do echo "$i" >"$W/page/key-$i"; done
aws_run "aws s3 cp --recursive (25 keys)" s3 cp --no-progress --recursive "$W/page" "s3://$B/page/"
aws_to "$W/lov2.json" "aws s3api list-objects-v2 --page-size 7" s3api list-objects-v2 --bucket "$B" --prefix page/ \
    --page-size 7 --output json
assert_eq "$(json_get "$W/lov2.json" '"\n".join(o["Key"] for o in d["Contents"])')" \
    "$(for i in $(seq -w 1 25); do echo "page/key-$i"; done)" "list-objects-v2 paginated by 7 lists the 25 keys in order"
aws_to "$W/p1.json" "aws s3api list-objects-v2 --max-keys 10 (page 1)" s3api list-objects-v2 --bucket "$B" --prefix page/ \
    --max-keys 10 --no-paginate --output json
assert_eq "$(json_get "$W/p1.json" 'd["KeyCount"], d["IsTruncated"], len(d["Contents"])')" "(10, True, 10)" "page 1: 10 keys, truncated"
token=$(json_get "$W/p1.json" 'd["NextContinuationToken"]')
aws_to "$W/p2.json" "aws s3api list-objects-v2 (page 2)" s3api list-objects-v2 --bucket "$B" --prefix page/ \
    --max-keys 10 --no-paginate --continuation-token "$token" --output json
assert_eq "$(json_get "$W/p2.json" 'd["Contents"][0]["Key"], d["KeyCount"], d["IsTruncated"]')" "('page/key-11', 10, True)" "page 2"
token=$(json_get "$W/p2.json" 'd["NextContinuationToken"]')
aws_to "$W/p3.json" "aws s3api list-objects-v2 (page 3)" s3api list-objects-v2 --bucket "$B" --prefix page/ \
    --max-keys 10 --no-paginate --continuation-token "$token" --output json
assert_eq "$(json_get "$W/p3.json" 'd["Contents"][0]["Key"], d["Contents"][-1]["Key"], d["KeyCount"], d["IsTruncated"]')" \
    "('page/key-21', 'page/key-25', 5, False)" "page 3 (last)"
aws_to "$W/delim.json" "aws s3api list-objects-v2 --delimiter /" s3api list-objects-v2 --bucket "$B" --delimiter / \
    --output json
assert_eq "$(json_get "$W/delim.json" 'sorted(p["Prefix"] for p in d["CommonPrefixes"])')" \
    "['big/', 'copies/', 'dir/', 'page/', 'tree/']" "list-objects-v2 --delimiter / common prefixes"
aws_to "$W/after.json" "aws s3api list-objects-v2 --start-after" s3api list-objects-v2 --bucket "$B" --prefix page/ \
    --start-after page/key-23 --output json
assert_eq "$(json_get "$W/after.json" '[o["Key"] for o in d["Contents"]]')" "['page/key-24', 'page/key-25']" "list-objects-v2 --start-after"

if [ "${AWS_EXPECT_CHECKSUMS:-0}" = 1 ]; then
    step "default integrity checksums"
    aws_run "aws s3api put-object (default checksum)" s3api put-object --bucket "$B" --key checksummed --body "$W/small"
    grep -qiE "x-amz-checksum-crc32|x-amz-trailer" "$SCENARIO_TMP/aws-debug/$(printf '%03d' "$AWS_N").log" ||
        fail "this aws-cli sent no default checksum: the scenario does not test what it should"
    aws_to "$W/head-ck.json" "aws s3api head-object --checksum-mode ENABLED" s3api head-object --bucket "$B" \
        --key checksummed --checksum-mode ENABLED
    want=$(python3 -c 'import zlib,base64,sys; print(base64.b64encode(zlib.crc32(open(sys.argv[1],"rb").read()).to_bytes(4,"big")).decode())' "$W/small")
    assert_eq "$(json_get "$W/head-ck.json" 'd.get("ChecksumCRC32")')" "$want" "the object's stored CRC32 (head-object --checksum-mode ENABLED)"
    aws_run "aws s3 cp down (response checksum validation)" s3api get-object --bucket "$B" --key checksummed \
        --checksum-mode ENABLED "$W/ck.back"
    assert_same_file "$W/small" "$W/ck.back" "checksummed object read back"
fi

step "s3api versioning, tagging and object lock"
V=$(bucket_name vers)
aws_run "aws s3api create-bucket (versioned)" s3api create-bucket --bucket "$V"
aws_run "aws s3api put-bucket-versioning Enabled" s3api put-bucket-versioning --bucket "$V" \
    --versioning-configuration Status=Enabled
aws_to "$W/vget.json" "aws s3api get-bucket-versioning" s3api get-bucket-versioning --bucket "$V" --output json
assert_eq "$(json_get "$W/vget.json" 'd.get("Status")')" "Enabled" "get-bucket-versioning after enabling it"
printf 'first\n' >"$W/v1"
printf 'second, longer\n' >"$W/v2"
aws_to "$W/put1.json" "aws s3api put-object (v1)" s3api put-object --bucket "$V" --key doc --body "$W/v1" \
    --tagging "team=ops" --output json
v1=$(json_get "$W/put1.json" 'd["VersionId"]')
aws_to "$W/put2.json" "aws s3api put-object (v2)" s3api put-object --bucket "$V" --key doc --body "$W/v2" --output json
v2=$(json_get "$W/put2.json" 'd["VersionId"]')
[ "$v1" != "$v2" ] || fail "two PUTs gave the same version id $v1"
aws_run "aws s3api get-object --version-id (v1)" s3api get-object --bucket "$V" --key doc --version-id "$v1" "$W/v1.back"
assert_same_file "$W/v1" "$W/v1.back" "the first version read back by id"
aws_to "$W/tags.json" "aws s3api get-object-tagging (v1)" s3api get-object-tagging --bucket "$V" --key doc \
    --version-id "$v1" --output json
assert_eq "$(json_get "$W/tags.json" '[(t["Key"], t["Value"]) for t in d["TagSet"]]')" "[('team', 'ops')]" "tags of v1"
aws_to "$W/del.json" "aws s3api delete-object (marker)" s3api delete-object --bucket "$V" --key doc --output json
assert_eq "$(json_get "$W/del.json" 'd.get("DeleteMarker")')" "True" "a delete without a version id makes a marker"
aws_to "$W/lov.json" "aws s3api list-object-versions" s3api list-object-versions --bucket "$V" --output json
assert_eq "$(json_get "$W/lov.json" '(len(d.get("Versions", [])), len(d.get("DeleteMarkers", [])), [m["IsLatest"] for m in d["DeleteMarkers"]])')" \
    "(2, 1, [True])" "list-object-versions: two versions and the marker, latest"
expect_fail "get-object of a key behind a delete marker" "${S3[@]}" s3api get-object --bucket "$V" --key doc "$W/none"
aws_run "aws s3api delete-object --version-id (the marker)" s3api delete-object --bucket "$V" --key doc \
    --version-id "$(json_get "$W/del.json" 'd["VersionId"]')"
aws_run "aws s3api get-object (back)" s3api get-object --bucket "$V" --key doc "$W/v2.back"
assert_same_file "$W/v2" "$W/v2.back" "the key is back once its marker is removed"

L=$(bucket_name lock)
aws_run "aws s3api create-bucket --object-lock-enabled-for-bucket" s3api create-bucket --bucket "$L" \
    --object-lock-enabled-for-bucket
aws_to "$W/lput.json" "aws s3api put-object (GOVERNANCE)" s3api put-object --bucket "$L" --key kept --body "$W/v1" \
    --object-lock-mode GOVERNANCE --object-lock-retain-until-date 2099-01-01T00:00:00Z --content-md5 \
    "$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.md5(open(sys.argv[1],"rb").read()).digest()).decode())' "$W/v1")" \
    --output json
lv=$(json_get "$W/lput.json" 'd["VersionId"]')
aws_to "$W/ret.json" "aws s3api get-object-retention" s3api get-object-retention --bucket "$L" --key kept --output json
assert_eq "$(json_get "$W/ret.json" 'd["Retention"]["Mode"]')" "GOVERNANCE" "the version's retention mode"
expect_fail "delete-object --version-id of a GOVERNANCE version without bypass" \
    "${S3[@]}" s3api delete-object --bucket "$L" --key kept --version-id "$lv"
grep -q AccessDenied "$SCENARIO_TMP/last-output" || fail "a locked delete did not answer AccessDenied"
aws_run "aws s3api delete-object --bypass-governance-retention" s3api delete-object --bucket "$L" --key kept \
    --version-id "$lv" --bypass-governance-retention

step "s3api bucket policy and public access block"
P=$(bucket_name policy)
aws_run "aws s3api create-bucket (policy)" s3api create-bucket --bucket "$P"
aws_run "aws s3api put-object (policy)" s3api put-object --bucket "$P" --key pub/page --body "$W/small"
anon_code() {
    local opts=(-sS --noproxy '*' -o /dev/null -w '%{http_code}')
    if [ -n "${CAIRN_S3_CA_BUNDLE:-}" ]; then opts+=(--cacert "$CAIRN_S3_CA_BUNDLE"); fi
    curl "${opts[@]}" "$CAIRN_S3_ENDPOINT/$1"
}
expect_fail "get-bucket-policy without a policy" "${S3[@]}" s3api get-bucket-policy --bucket "$P"
grep -q NoSuchBucketPolicy "$SCENARIO_TMP/last-output" || fail "get-bucket-policy without one did not answer NoSuchBucketPolicy"
printf '{"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/pub/*"}]}' "$P" >"$W/policy.json"
aws_run "aws s3api put-bucket-policy" s3api put-bucket-policy --bucket "$P" --policy "file://$W/policy.json"
aws_to "$W/got-policy.json" "aws s3api get-bucket-policy" s3api get-bucket-policy --bucket "$P" --output json
assert_eq "$(json_get "$W/got-policy.json" '__import__("json").loads(d["Policy"])["Statement"][0]["Sid"]')" "Pub" "the policy read back"
aws_to "$W/status.json" "aws s3api get-bucket-policy-status" s3api get-bucket-policy-status --bucket "$P" --output json
assert_eq "$(json_get "$W/status.json" 'd["PolicyStatus"]["IsPublic"]')" "True" "a public policy is public"
assert_eq "$(anon_code "$P/pub/page")" 200 "anonymous GET allowed by the policy"
printf '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::not-%s/*"}]}' "$P" >"$W/bad-policy.json"
expect_fail "put-bucket-policy naming another bucket" "${S3[@]}" s3api put-bucket-policy --bucket "$P" --policy "file://$W/bad-policy.json"
grep -q MalformedPolicy "$SCENARIO_TMP/last-output" || fail "a policy on another bucket did not answer MalformedPolicy"
aws_run "aws s3api put-public-access-block" s3api put-public-access-block --bucket "$P" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws_to "$W/pab.json" "aws s3api get-public-access-block" s3api get-public-access-block --bucket "$P" --output json
assert_eq "$(json_get "$W/pab.json" 'd["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"]')" "True" "the flags read back"
assert_eq "$(anon_code "$P/pub/page")" 403 "RestrictPublicBuckets keeps anonymous requests out"
expect_fail "put-bucket-policy of a public policy under BlockPublicPolicy" "${S3[@]}" s3api put-bucket-policy --bucket "$P" --policy "file://$W/policy.json"
grep -q AccessDenied "$SCENARIO_TMP/last-output" || fail "a public policy under BlockPublicPolicy did not answer AccessDenied"
aws_run "aws s3api delete-public-access-block" s3api delete-public-access-block --bucket "$P"
aws_run "aws s3api delete-bucket-policy" s3api delete-bucket-policy --bucket "$P"
assert_eq "$(anon_code "$P/pub/page")" 403 "anonymous GET refused once the policy is gone"
aws_run "aws s3 rb --force (policy)" s3 rb --force "s3://$P"

step "rm --recursive"
aws_run "aws s3 rm --recursive" s3 rm --only-show-errors --recursive "s3://$B/tree/"
aws_to "$W/after-rm.json" "aws s3api list-objects-v2 after rm" s3api list-objects-v2 --bucket "$B" --prefix tree/ --no-paginate --output json
assert_eq "$(json_get "$W/after-rm.json" 'd.get("KeyCount"), len(d.get("Contents", []))')" "(0, 0)" "nothing left under tree/ after rm --recursive"
aws_run "aws s3 ls --recursive (others)" s3 ls --recursive "s3://$B/dir/"
out=$OUT
assert_contains "$out" "dir/small.bin" "rm --recursive of tree/ leaves dir/ alone"

step "rb --force"
aws_run "aws s3 rb --force" s3 rb --force "s3://$B"
aws_run "aws s3 ls (ListBuckets)" s3 ls
out=$OUT
case "$out" in
*" $B"*) fail "bucket $B still listed after rb --force" ;;
esac
finish "all aws-cli checks passed"
