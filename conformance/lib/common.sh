# Helpers for the bash scenarios of conformance/run. A scenario sources this
# file, runs its steps and exits 0 when every assertion held. It fails with
# `fail MESSAGE`: the runner shows the last `FAIL:` line as the reason.
#
# The runner gives every scenario:
#   CAIRN_S3_ENDPOINT   http://127.0.0.1:PORT of the gateway (path style;
#                       https:// under CONFORMANCE_TLS, CA in CAIRN_S3_CA_BUNDLE)
#   CAIRN_S3_HOSTPORT   127.0.0.1:PORT
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION
#   CAIRN_BIN, CAIRN_CONFIG_DIR, CAIRN_CLUSTER   the binary and its cluster
#   CAIRN_RELEASE_GRACE seconds the cluster keeps a released chunk before
#                       freeing it (`cairn up --release-grace`)
#   SCENARIO_TMP        an empty directory of the scenario's own (also HOME)
#   CONFORMANCE_DIR     the conformance/ directory
#   CAIRN_VENV          the venv with boto3 and the PyPI awscli
#   CONFORMANCE_SHARED  files shared by the scenarios (read-only for them)
#   CI                  set in CI: a missing client is a failure there

set -uo pipefail

STEP="start"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# soft_fail MESSAGE: a check failed but the scenario can go on (e.g. a
# client succeeded only after retrying); `finish` fails the scenario then.
soft_fail() {
    echo "SOFT-FAIL: $*" >&2
    printf '%s\n' "$*" >>"$SCENARIO_TMP/soft-fails"
}

# finish MESSAGE: the end of a scenario: fails with the soft failures if
# there were any, else prints MESSAGE.
finish() {
    if [ -s "$SCENARIO_TMP/soft-fails" ]; then
        local n
        n=$(wc -l <"$SCENARIO_TMP/soft-fails")
        fail "$n check(s) failed: $(head -n 3 "$SCENARIO_TMP/soft-fails" | tr '\n' '|' | sed 's/|$//; s/|/ || /g')"
    fi
    echo "$*"
}

step() {
    STEP="$*"
    echo "== $(date +%H:%M:%S) $*"
}

# A client that is not installed: a failure in CI, a skip (exit 77) elsewhere.
missing_client() {
    if [ -n "${CI:-}" ]; then
        fail "missing client: $* (conformance/install-deps installs it)"
    fi
    echo "SKIP: missing client: $* (conformance/install-deps installs it)" >&2
    exit 77
}

require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing_client "$c"
    done
}

# run DESC CMD...: runs CMD with its output in the log; fails the scenario
# with DESC, the exit code and the client's last lines of output.
LAST_OUT=""
run() {
    local desc="$1"
    shift
    LAST_OUT="$SCENARIO_TMP/last-output"
    echo "\$ $*"
    "$@" >"$LAST_OUT" 2>&1
    local rc=$?
    cat "$LAST_OUT"
    if [ "$rc" -ne 0 ]; then
        fail "$desc: exit $rc: $(error_lines "$LAST_OUT")"
    fi
}

# capture DESC CMD...: runs CMD, its stdout into $OUT (and the log), its
# stderr into the log; fails the scenario like `run`.
OUT=""
capture() {
    local desc="$1"
    shift
    local out="$SCENARIO_TMP/capture-out" err="$SCENARIO_TMP/capture-err"
    echo "\$ $*"
    "$@" >"$out" 2>"$err"
    local rc=$?
    OUT=$(cat "$out")
    cat "$out" "$err"
    if [ "$rc" -ne 0 ]; then
        fail "$desc: exit $rc: $(error_lines "$err" "$out")"
    fi
}

# capture_to FILE DESC CMD...: like capture, stdout into FILE.
capture_to() {
    local file="$1"
    shift
    capture "$@"
    printf '%s\n' "$OUT" >"$file"
}

# wrong_ca_bundle FILE: a throwaway self-signed CA that signed nothing of
# the cluster's: a client trusting only it must refuse the gateway.
wrong_ca_bundle() {
    require_cmd openssl
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1" -days 1 -subj "/CN=not the cluster CA" >/dev/null 2>&1 ||
        fail "openssl cannot make a throwaway CA"
}

# The lines of a client's output that say what went wrong, on one line.
error_lines() {
    local lines
    lines=$(cat "$@" 2>/dev/null | tr -d '\r' | grep -iE 'error|fail|denied|invalid|not ?found|refused|mismatch|unexpected|cannot|can.t|no such|exception|status|[45][0-9][0-9]' | grep -v '^\s*$' | tail -n 4)
    if [ -z "$lines" ]; then
        lines=$(cat "$@" 2>/dev/null | tr -d '\r' | grep -v '^\s*$' | tail -n 3)
    fi
    printf '%s' "$lines" | tr '\n' ' ' | cut -c 1-600
}

# expect_fail DESC CMD...: CMD must fail (a negative check).
expect_fail() {
    local desc="$1"
    shift
    echo "\$ (must fail) $*"
    if "$@" >"$SCENARIO_TMP/last-output" 2>&1; then
        cat "$SCENARIO_TMP/last-output"
        fail "$desc: succeeded but should have failed"
    fi
    cat "$SCENARIO_TMP/last-output"
}

assert_eq() {
    local actual="$1" expected="$2" desc="$3"
    if [ "$actual" != "$expected" ]; then
        echo "--- expected:"
        printf '%s\n' "$expected"
        echo "--- actual:"
        printf '%s\n' "$actual"
        fail "$desc: expected '$(printf '%s' "$expected" | head -c 200 | tr '\n' ' ')', got '$(printf '%s' "$actual" | head -c 200 | tr '\n' ' ')'"
    fi
}

assert_contains() {
    local haystack="$1" needle="$2" desc="$3"
    case "$haystack" in
    *"$needle"*) ;;
    *) fail "$desc: '$needle' not in '$(printf '%s' "$haystack" | head -c 300 | tr '\n' ' ')'" ;;
    esac
}

assert_same_file() {
    local a="$1" b="$2" desc="$3"
    [ -f "$b" ] || fail "$desc: $(basename "$b") is missing"
    if ! cmp -s "$a" "$b"; then
        fail "$desc: bytes differ ($(stat -c %s "$a") bytes expected, $(stat -c %s "$b") read; $(cmp "$a" "$b" 2>&1 | head -n 1))"
    fi
}

# Regular files (relative paths, sorted) of a tree.
list_files() {
    (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
}

# Same regular files with the same bytes (empty directories are not compared:
# S3 has none).
assert_same_tree() {
    local a="$1" b="$2" desc="$3"
    [ -d "$b" ] || fail "$desc: directory $(basename "$b") is missing"
    local la lb
    la=$(list_files "$a")
    lb=$(list_files "$b")
    if [ "$la" != "$lb" ]; then
        diff <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | head -n 20
        fail "$desc: the file lists differ: $(diff <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
    fi
    local f
    while IFS= read -r f; do
        cmp -s "$a/$f" "$b/$f" || fail "$desc: $f differs"
    done <<<"$la"
}

# wait_until SECONDS DESC CMD...: polls CMD every 0.2 s until it succeeds or
# the deadline passes.
wait_until() {
    local secs="$1" desc="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "$desc: not true after ${secs}s"
        fi
        sleep 0.2
    done
}

# random_file PATH BYTES
random_file() {
    head -c "$2" /dev/urandom >"$1" || fail "cannot write $1"
}

# The shared 200 MiB file (made once by the runner).
big_file() {
    echo "$CONFORMANCE_SHARED/big-200MiB"
}

# make_tree DIR: a tree of regular files as S3 clients meet them: nested
# directories, empty and odd-sized files, spaces, unicode, many small files
# and a few MiB-sized ones. Nothing S3 cannot hold (no empty directories,
# no symlinks).
make_tree() {
    local d="$1" i
    mkdir -p "$d/docs/notes" "$d/src/deep/er/still" "$d/data" "$d/with space" "$d/ünïcødé"
    echo "hello, cairn" >"$d/README.txt"
    : >"$d/empty-file"
    for i in $(seq 1 40); do
        head -c $((i * 97)) /dev/urandom >"$d/src/file-$i.bin"
    done
    for i in 1 2 3; do
        head -c $((i * 1048576 + 12345)) /dev/urandom >"$d/data/blob-$i"
    done
    seq 1 20000 >"$d/docs/numbers.txt"
    echo "deep" >"$d/src/deep/er/still/leaf.txt"
    echo "space" >"$d/with space/a file.txt"
    echo "unicode" >"$d/ünïcødé/ñame.txt"
    echo "plus" >"$d/docs/notes/a+b=c.txt"
    head -c 65536 /dev/urandom >"$d/docs/notes/exactly-64KiB"
}

# make_real_tree DIR: a copy of this project's sources (a real tree of many
# files and directories), plus a symlink, an empty directory and a 5 MiB
# file: what a backup tool meets.
make_real_tree() {
    local d="$1" root
    root=$(cd "$CONFORMANCE_DIR/.." && pwd)
    mkdir -p "$d"
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$root" && git ls-files -z -- src cluster gateway proto fs docs README.md Cargo.toml |
            xargs -0 -r tar -cf - --no-recursion 2>/dev/null) | (cd "$d" && tar -xf -) ||
            fail "cannot copy the project's sources into $d"
    else
        local p
        for p in src cluster gateway proto fs docs README.md Cargo.toml; do
            [ -e "$root/$p" ] && cp -a "$root/$p" "$d/"
        done
    fi
    [ "$(find "$d" -type f | wc -l)" -gt 20 ] || fail "the real tree in $d has too few files"
    mkdir -p "$d/empty-dir" "$d/extra"
    ln -s ../README.md "$d/extra/readme-link"
    head -c 5242880 /dev/urandom >"$d/extra/five-MiB.bin"
    echo "tabs	and spaces" >"$d/extra/odd name (1).txt"
}

# An S3 bucket name unique to this scenario and purpose.
bucket_name() {
    echo "$SCENARIO_NAME-$1" | tr 'A-Z_' 'a-z-' | cut -c 1-63
}

# s3_etag BUCKET KEY: the object's ETag (with quotes) from a HEAD signed by
# curl itself, independent of the client under test. Plain keys only.
s3_etag() {
    curl -sS --noproxy '*' -I -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        "$CAIRN_S3_ENDPOINT/$1/$2" | tr -d '\r' | sed -n 's/^etag: *//Ip'
}

# assert_multipart BUCKET KEY PARTS DESC: the object was stored from a
# multipart upload of PARTS parts (its ETag is MD5-PARTS); PARTS "" for any.
assert_multipart() {
    local etag
    etag=$(s3_etag "$1" "$2")
    if [ -n "$3" ]; then
        case "$etag" in
        *-"$3"\") return 0 ;;
        esac
    else
        case "$etag" in
        *-[0-9]*\") return 0 ;;
        esac
    fi
    fail "$4: expected a multipart upload of ${3:-several} parts (ETag \"MD5-${3:-N}\"), ETag is '${etag:-none}'"
}

# s3_curl ARGS... URL-PATH: a request signed by curl itself (SigV4), for
# setting up and checking state independently of the client under test.
# Prints the HTTP status code; the body goes to $SCENARIO_TMP/s3_curl.body.
s3_curl() {
    local path="${*: -1}"
    local args=("${@:1:$#-1}")
    curl -sS --noproxy '*' -o "$SCENARIO_TMP/s3_curl.body" -w '%{http_code}' \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "${args[@]}" "$CAIRN_S3_ENDPOINT/$path"
}

# s3_make_bucket NAME: CreateBucket through curl.
s3_make_bucket() {
    local code
    code=$(s3_curl -X PUT "$1")
    [ "$code" = 200 ] || fail "CreateBucket $1 (curl): HTTP $code $(head -c 300 "$SCENARIO_TMP/s3_curl.body")"
}

# write_rclone_conf FILE: an rclone config with the remote `cairn:`.
# Over HTTPS rclone trusts the CA through SSL_CERT_FILE: its S3 SDK refuses
# AWS_CA_BUNDLE with rclone's own HTTP transport, so that one goes.
write_rclone_conf() {
    unset AWS_CA_BUNDLE
    cat >"$1" <<EOC
[cairn]
type = s3
provider = Other
access_key_id = $AWS_ACCESS_KEY_ID
secret_access_key = $AWS_SECRET_ACCESS_KEY
endpoint = $CAIRN_S3_ENDPOINT
region = us-east-1
force_path_style = true
EOC
}

# unmount_cairn: SIGTERM to the `cairn mount` process $MOUNT_PID (it
# unmounts after sending what is buffered), which must end it cleanly
# (exit 0, $MNT no longer mounted) within 30 s; its log is
# $SCENARIO_TMP/mount.log.
unmount_cairn() {
    kill -TERM "$MOUNT_PID"
    local deadline=$((SECONDS + 30)) rc
    while kill -0 "$MOUNT_PID" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || fail "cairn mount did not stop within 30 s of SIGTERM"
        sleep 0.1
    done
    wait "$MOUNT_PID"
    rc=$?
    MOUNT_PID=""
    [ "$rc" -eq 0 ] || fail "cairn mount exited with $rc on SIGTERM: $(tail -n 3 "$SCENARIO_TMP/mount.log" | tr '\n' ' ')"
    ! mountpoint -q "$MNT" || fail "$MNT is still mounted after cairn mount stopped"
}

# Stops the `cairn mount` process $MOUNT_PID (TERM, then KILL after 15 s)
# and detaches $MNT if it is still mounted; for the EXIT trap of a
# scenario that mounts.
stop_cairn_mount() {
    if [ -n "$MOUNT_PID" ] && kill -0 "$MOUNT_PID" 2>/dev/null; then
        kill -TERM "$MOUNT_PID" 2>/dev/null
        local i
        for i in $(seq 1 150); do
            kill -0 "$MOUNT_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$MOUNT_PID" 2>/dev/null
        wait "$MOUNT_PID" 2>/dev/null
    fi
    MOUNT_PID=""
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    return 0
}
