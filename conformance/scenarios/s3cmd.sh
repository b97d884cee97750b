#!/usr/bin/env bash
# s3cmd (Debian) against the gateway, path style, SigV4: mb, put (small and
# 40 MiB multipart), get, ls, info, sync both ways with --delete-removed,
# setcors/delcors (checked with a preflight sent by curl), setpolicy/delpolicy
# with anonymous reads, setacl, del, rb.
. "$CONFORMANCE_DIR/lib/common.sh"
require_cmd s3cmd curl
run "s3cmd --version" s3cmd --version

CFG="$SCENARIO_TMP/s3cfg"
# Over HTTPS (CONFORMANCE_TLS) s3cmd checks the gateway's certificate
# against the cluster CA: it reads no standard variable, only its config.
USE_HTTPS=False
CHECK_CERT=False
if [ -n "${CAIRN_S3_CA_BUNDLE:-}" ]; then
    USE_HTTPS=True
    CHECK_CERT=True
fi
cat >"$CFG" <<EOF
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $CAIRN_S3_HOSTPORT
host_bucket = $CAIRN_S3_HOSTPORT
bucket_location = us-east-1
use_https = $USE_HTTPS
signature_v2 = False
multipart_chunk_size_mb = 8
progress_meter = False
check_ssl_certificate = $CHECK_CERT
ca_certs_file = ${CAIRN_S3_CA_BUNDLE:-}
proxy_host =
EOF
S3CMD=(s3cmd -c "$CFG" --no-progress)
B=$(bucket_name data)
W="$SCENARIO_TMP/w"
mkdir -p "$W"

step "mb"
run "s3cmd mb" "${S3CMD[@]}" mb "s3://$B"
capture "s3cmd ls (buckets)" "${S3CMD[@]}" ls
assert_contains "$OUT" "s3://$B" "s3cmd ls lists the bucket"

step "put, get, info: small file"
random_file "$W/small" 54321
run "s3cmd put (small)" "${S3CMD[@]}" put "$W/small" "s3://$B/dir/small.bin"
run "s3cmd get (small)" "${S3CMD[@]}" get "s3://$B/dir/small.bin" "$W/small.back"
assert_same_file "$W/small" "$W/small.back" "small file read back"
capture "s3cmd info (object)" "${S3CMD[@]}" info "s3://$B/dir/small.bin"
assert_contains "$OUT" "File size: 54321" "s3cmd info: size"
assert_contains "$OUT" "MD5 sum:   $(md5sum <"$W/small" | cut -c 1-32)" "s3cmd info: MD5"
capture "s3cmd info (bucket)" "${S3CMD[@]}" info "s3://$B"
assert_contains "$OUT" "Location:" "s3cmd info on the bucket"

step "put, get: 40 MiB (multipart, 8 MiB parts)"
random_file "$W/forty" $((40 * 1024 * 1024))
run "s3cmd put (multipart)" "${S3CMD[@]}" put "$W/forty" "s3://$B/big/forty"
capture "s3cmd info (multipart object)" "${S3CMD[@]}" info "s3://$B/big/forty"
assert_contains "$OUT" "File size: $((40 * 1024 * 1024))" "size of the multipart object"
assert_multipart "$B" big/forty 5 "s3cmd put of 40 MiB with 8 MiB parts"
run "s3cmd get (multipart object)" "${S3CMD[@]}" get "s3://$B/big/forty" "$W/forty.back"
assert_same_file "$W/forty" "$W/forty.back" "40 MiB file read back"

step "ls"
capture "s3cmd ls (one level)" "${S3CMD[@]}" ls "s3://$B/"
assert_eq "$(printf '%s\n' "$OUT" | awk '{print $NF}' | LC_ALL=C sort)" "$(printf 's3://%s/big/\ns3://%s/dir/' "$B" "$B")" "s3cmd ls shows the two directories"
capture "s3cmd ls --recursive" "${S3CMD[@]}" ls --recursive "s3://$B/"
assert_eq "$(printf '%s\n' "$OUT" | awk '{print $NF}' | LC_ALL=C sort)" "$(printf 's3://%s/big/forty\ns3://%s/dir/small.bin' "$B" "$B")" "s3cmd ls --recursive"

step "sync a tree up and down"
make_tree "$W/tree"
run "s3cmd sync up" "${S3CMD[@]}" sync "$W/tree/" "s3://$B/tree/"
capture "s3cmd ls --recursive (tree)" "${S3CMD[@]}" ls --recursive "s3://$B/tree/"
listed=$(printf '%s\n' "$OUT" | sed -n "s|.* s3://$B/tree/||p" | LC_ALL=C sort)
assert_eq "$listed" "$(list_files "$W/tree")" "s3cmd ls --recursive lists the synced tree"
run "s3cmd sync down" "${S3CMD[@]}" sync "s3://$B/tree/" "$W/tree.down/"
assert_same_tree "$W/tree" "$W/tree.down" "tree synced down"

step "sync changes with --delete-removed"
echo "changed by s3cmd" >"$W/tree/README.txt"
rm "$W/tree/src/file-3.bin"
run "s3cmd sync up --delete-removed" "${S3CMD[@]}" sync --delete-removed "$W/tree/" "s3://$B/tree/"
run "s3cmd sync down --delete-removed" "${S3CMD[@]}" sync --delete-removed "s3://$B/tree/" "$W/tree.down/"
assert_same_tree "$W/tree" "$W/tree.down" "tree synced down after changes"

step "setcors, info, delcors"
cat >"$W/cors.xml" <<'EOF'
<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>https://page.example</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <MaxAgeSeconds>120</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>
EOF
# A browser's preflight of a PUT from https://page.example: its status and
# headers (unauthenticated, as a browser sends it).
preflight() {
    local tls=()
    [ -n "${CAIRN_S3_CA_BUNDLE:-}" ] && tls=(--cacert "$CAIRN_S3_CA_BUNDLE")
    curl -sS "${tls[@]}" -o /dev/null -D - -X OPTIONS \
        -H "Origin: https://page.example" -H "Access-Control-Request-Method: PUT" \
        -H "Access-Control-Request-Headers: content-type" \
        "$CAIRN_S3_ENDPOINT/$B/dir/page.txt" | tr -d '\r'
}
run "s3cmd setcors" "${S3CMD[@]}" setcors "$W/cors.xml" "s3://$B"
capture "s3cmd info (bucket with CORS)" "${S3CMD[@]}" info "s3://$B"
assert_contains "$OUT" "https://page.example" "s3cmd info shows the CORS rules"
capture "preflight after setcors" preflight
assert_contains "$OUT" " 200" "a preflight the rules allow"
assert_contains "$OUT" "access-control-allow-origin: https://page.example" "the preflight allows the origin"
assert_contains "$OUT" "access-control-allow-methods: GET, PUT" "the preflight names the methods"
assert_contains "$OUT" "access-control-max-age: 120" "the preflight's max age"
run "s3cmd delcors" "${S3CMD[@]}" delcors "s3://$B"
capture "preflight after delcors" preflight
assert_contains "$OUT" " 403" "a preflight without rules is refused"
case "$OUT" in *access-control-allow-origin*) fail "a refused preflight allows an origin" ;; esac

step "setpolicy, delpolicy, setacl: anonymous access follows the policy"
# An anonymous GET (curl, no credentials) of an object.
anonymous_get() {
    local opts=(-sS --noproxy '*' -o /dev/null -w '%{http_code}')
    if [ -n "${CAIRN_S3_CA_BUNDLE:-}" ]; then opts+=(--cacert "$CAIRN_S3_CA_BUNDLE"); fi
    curl "${opts[@]}" "$CAIRN_S3_ENDPOINT/$1"
}
assert_eq "$(anonymous_get "$B/dir/small.bin")" 403 "anonymous GET refused without a policy"
cat >"$W/policy.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::$B/dir/*"}]}
EOF
run "s3cmd setpolicy" "${S3CMD[@]}" setpolicy "$W/policy.json" "s3://$B"
capture "s3cmd info (bucket with policy)" "${S3CMD[@]}" info "s3://$B"
assert_contains "$OUT" "PublicRead" "s3cmd info shows the policy"
assert_eq "$(anonymous_get "$B/dir/small.bin")" 200 "anonymous GET allowed by the policy"
assert_eq "$(anonymous_get "$B/big/forty")" 403 "anonymous GET outside the policy's prefix refused"
run "s3cmd delpolicy" "${S3CMD[@]}" delpolicy "s3://$B"
assert_eq "$(anonymous_get "$B/dir/small.bin")" 403 "anonymous GET refused once the policy is gone"
# ACL grants are not stored (docs/design.md): --acl-private changes
# nothing and passes, --acl-public is refused, never silently dropped.
run "s3cmd setacl --acl-private" "${S3CMD[@]}" setacl --acl-private "s3://$B/dir/small.bin"
expect_fail "s3cmd setacl --acl-public (grants are not stored)" "${S3CMD[@]}" setacl --acl-public "s3://$B/dir/small.bin"
assert_eq "$(anonymous_get "$B/dir/small.bin")" 403 "the object stays private"

step "del, rb"
run "s3cmd del" "${S3CMD[@]}" del "s3://$B/dir/small.bin"
expect_fail "s3cmd get of a deleted object" "${S3CMD[@]}" get "s3://$B/dir/small.bin" "$W/gone"
run "s3cmd del --recursive" "${S3CMD[@]}" del --recursive --force "s3://$B/"
capture "s3cmd ls --recursive (empty)" "${S3CMD[@]}" ls --recursive "s3://$B/"
assert_eq "$OUT" "" "nothing left after del --recursive"
run "s3cmd rb" "${S3CMD[@]}" rb "s3://$B"
capture "s3cmd ls (buckets)" "${S3CMD[@]}" ls
case "$OUT" in *"s3://$B"*) fail "bucket still listed after s3cmd rb" ;; esac
finish "all s3cmd checks passed"
