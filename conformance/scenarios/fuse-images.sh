#!/usr/bin/env bash
# VM and container images on the mount (issue 19): what a hypervisor host
# and a container host do to a filesystem, with their own tools.
#
# 1. VM disks: `qemu-img create -f qcow2` (then qemu-io writes into it),
#    `qemu-img convert` of a sparse raw disk (random data at a few offsets,
#    holes elsewhere) to qcow2 on the mount and of that qcow2 back to raw
#    on the mount; `qemu-img check` passes on every qcow2, `qemu-img
#    compare` finds the converted images identical to the local original,
#    and the raw image on the mount stays sparse: its allocated blocks are
#    its data, and SEEK_DATA/SEEK_HOLE (python, then `qemu-img map`) find
#    the data and holes where the local original has them.
# 2. A guest's discard, fstrim style: a file filled with data has a large
#    part zeroed in place, then `fallocate --dig-holes` cuts the zeros out:
#    its allocated blocks go down, its bytes read back unchanged, and the
#    chunks the holes cover whole go back to the cluster (`cairn stat
#    --json`: the chunk servers' used bytes fall by them, once the MDS's
#    release grace, `cairn up --release-grace`, has passed).
# 3. A container's root filesystem: a static busybox and its applet links
#    on the mount, then `chroot ROOT /bin/sh /script.sh` with busybox alone
#    passes data through a FIFO, runs syslogd on the UNIX socket /dev/log
#    (logger writes through it), makes /dev/null, /dev/zero and a block
#    device with mknod and uses the character devices. Outside, the types
#    and device numbers hold after a remount, and none of these special
#    files is an S3 object. A SQLite database in WAL mode (fcntl locks, a
#    shared mmap) lives beside them and stays intact across the remount.
#
# Runs as root (mknod of devices, chroot); elsewhere a skip (exit 77). Not
# applicable (exit 78) while the binary has no `cairn mount`.
. "$CONFORMANCE_DIR/lib/common.sh"
if ! "$CAIRN_BIN" mount --help >/dev/null 2>&1; then
    echo "N/A: \`cairn mount\` is not in this binary yet" >&2
    exit 78
fi
[ "$(id -u)" -eq 0 ] || missing_client "root (mknod of device nodes and chroot need it)"
[ -e /dev/fuse ] || missing_client "/dev/fuse (FUSE is not available on this machine)"
require_cmd qemu-img qemu-io fallocate sqlite3 python3 curl chroot mountpoint timeout
BUSYBOX=$(command -v busybox) || missing_client "busybox (Debian package busybox-static)"
# A dynamic busybox (an ELF with a PT_INTERP header) cannot run in a root
# holding nothing else.
python3 -c '
import struct, sys
f = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", f, 0x20)
phentsize, phnum = struct.unpack_from("<HH", f, 0x36)
sys.exit(any(struct.unpack_from("<I", f, phoff + i * phentsize)[0] == 3 for i in range(phnum)))
' "$BUSYBOX" || missing_client "a static busybox (Debian package busybox-static; $BUSYBOX is dynamic)"

MiB=$((1024 * 1024))
W="$SCENARIO_TMP/w"
MNT="$SCENARIO_TMP/mnt"
mkdir -p "$W" "$MNT"
MOUNT_PID=""

mount_cairn() {
    local args=()
    "$CAIRN_BIN" mount --help 2>&1 | grep -q -- '--owner' && args+=(--owner "$AWS_ACCESS_KEY_ID")
    echo "\$ $CAIRN_BIN mount ${args[*]} $MNT"
    "$CAIRN_BIN" mount "${args[@]}" "$MNT" >>"$SCENARIO_TMP/mount.log" 2>&1 &
    MOUNT_PID=$!
    local deadline=$((SECONDS + 30))
    until mountpoint -q "$MNT"; do
        kill -0 "$MOUNT_PID" 2>/dev/null || fail "cairn mount exited before mounting: $(tail -n 5 "$SCENARIO_TMP/mount.log" | tr '\n' ' ')"
        [ "$SECONDS" -lt "$deadline" ] || fail "cairn mount did not mount within 30 s: $(tail -n 5 "$SCENARIO_TMP/mount.log" | tr '\n' ' ')"
        sleep 0.1
    done
    grep " $MNT " /proc/mounts
}

# Every exit path: the chroot's processes, the mount (lazily if busy).
cleanup() {
    local pid
    for pid in $(cat "$SCENARIO_TMP/chroot-pids" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    stop_cairn_mount
}
trap cleanup EXIT

# extents FILE: the data extents of FILE as SEEK_DATA/SEEK_HOLE find them,
# one "OFFSET LENGTH" a line.
extents() {
    python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off = 0
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError as e:
        if e.errno == 6:  # ENXIO: no data past off
            break
        raise
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    print(data, hole - data)
    off = hole
EOF
}

# map_data FILE FORMAT: the data extents of the image as `qemu-img map`
# shows them (guest offsets, adjacent ones merged), "OFFSET LENGTH" a line.
map_data() {
    qemu-img map -f "$2" --output=json "$1" | python3 -c '
import json, sys
out = []
for e in json.load(sys.stdin):
    if not e["data"]:
        continue
    if out and out[-1][0] + out[-1][1] == e["start"]:
        out[-1][1] += e["length"]
    else:
        out.append([e["start"], e["length"]])
for s, l in out:
    print(s, l)
'
}

# space FIELD: a figure of `cairn stat --json`: used (bytes on every chunk
# server), replicas (of new chunks), chunks, deleting (chunks released,
# not yet freed), allocatable, quiet (1 when every chunk has its replicas,
# no copy runs and no chunk waits to be freed: the used bytes only move
# when something is written or freed).
space() {
    "$CAIRN_BIN" stat --json >"$SCENARIO_TMP/stat.json" 2>"$SCENARIO_TMP/stat.err" ||
        fail "cairn stat --json: $(error_lines "$SCENARIO_TMP/stat.err")"
    python3 - "$1" "$SCENARIO_TMP/stat.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[2]))
f = sys.argv[1]
if f == "used":
    print(sum(c["used"] for c in s["chunk_servers"]))
elif f == "replicas":
    print(s["space"]["replicas"])
elif f == "chunks":
    print(s["chunks"])
elif f == "deleting":
    print(dict(s["chunk_states"]).get("deleting", 0))
elif f == "allocatable":
    print(s["space"]["allocatable"])
elif f == "quiet":
    deleting = dict(s["chunk_states"]).get("deleting", 0)
    copies = s.get("copies_in_flight", 0) + s.get("moves_in_flight", 0)
    print(int(bool(s["healthy"]) and deleting == 0 and copies == 0))
elif f == "states":
    print(" ".join("%s=%s" % kv for kv in dict(s["chunk_states"]).items() if kv[1]), "healthy=%s" % s["healthy"])
EOF
}

step "mount"
mount_cairn
B=$(bucket_name data)
run "mkdir of a bucket at the top of the mount" mkdir "$MNT/$B"
"$CAIRN_BIN" bucket allow "$AWS_ACCESS_KEY_ID" "$B" --owner >"$W/allow.log" 2>&1 ||
    fail "cairn bucket allow $B: $(error_lines "$W/allow.log")"

# --- 1. VM disks ------------------------------------------------------------
V="$MNT/$B/vm"
mkdir -p "$V"
step "a sparse local raw disk: 1 GiB, random data at six offsets"
truncate -s 1G "$W/disk.raw"
DATA=0
# MiB offset and length; one run crosses a 64 MiB chunk boundary.
for run_ in "0 4" "62 4" "300 3" "513 2" "777 1" "1016 8"; do
    set -- $run_
    dd if=/dev/urandom of="$W/disk.raw" bs=1M seek="$1" count="$2" iflag=fullblock conv=notrunc status=none ||
        fail "cannot write the local raw disk"
    DATA=$((DATA + $2 * MiB))
done
extents "$W/disk.raw" >"$W/local.extents" || fail "SEEK_DATA/SEEK_HOLE on the local raw disk failed"
cat "$W/local.extents"
[ "$(wc -l <"$W/local.extents")" -ge 5 ] || fail "the local file system under $W keeps no holes (need SEEK_HOLE): $(tr '\n' ' ' <"$W/local.extents")"

step "qemu-img create -f qcow2 on the mount, qemu-io writes into it, qemu-img check"
run "qemu-img create -f qcow2" qemu-img create -f qcow2 "$V/blank.qcow2" 4G
run "qemu-img check of a new qcow2 on the mount" qemu-img check "$V/blank.qcow2"
run "qemu-io writes into the qcow2 on the mount" qemu-io -f qcow2 \
    -c 'write -P 0x5a 1M 3M' -c 'write -P 0xa5 2G 64k' -c 'write -z 1M 64k' "$V/blank.qcow2"
run "qemu-io reads back" qemu-io -f qcow2 \
    -c 'read -P 0 1M 64k' -c 'read -P 0x5a 1088k 2944k' -c 'read -P 0xa5 2G 64k' -c 'read -P 0 3G 1M' "$V/blank.qcow2"
grep -qi 'fail\|error' "$LAST_OUT" && fail "qemu-io read back other bytes than it wrote into the qcow2 on the mount: $(error_lines "$LAST_OUT")"
run "qemu-img check after the writes" qemu-img check "$V/blank.qcow2"

step "qemu-img convert raw -> qcow2 onto the mount; check; compare with the local original"
run "qemu-img convert raw -> qcow2" qemu-img convert -f raw -O qcow2 "$W/disk.raw" "$V/disk.qcow2"
run "qemu-img check of the converted qcow2" qemu-img check "$V/disk.qcow2"
run "qemu-img compare (local raw, qcow2 on the mount)" qemu-img compare -f raw -F qcow2 "$W/disk.raw" "$V/disk.qcow2"
assert_contains "$(cat "$LAST_OUT")" "Images are identical" "qemu-img compare of the qcow2 on the mount"

step "qemu-img convert qcow2 -> raw on the mount; compare; the bytes"
run "qemu-img convert qcow2 -> raw" qemu-img convert -f qcow2 -O raw "$V/disk.qcow2" "$V/disk.raw"
run "qemu-img compare (local raw, raw on the mount)" qemu-img compare -f raw -F raw "$W/disk.raw" "$V/disk.raw"
assert_contains "$(cat "$LAST_OUT")" "Images are identical" "qemu-img compare of the raw image on the mount"
assert_same_file "$W/disk.raw" "$V/disk.raw" "the raw image converted on the mount, read back whole (holes as zeros)"

step "the raw image on the mount stays sparse (st_blocks, SEEK_DATA/SEEK_HOLE, qemu-img map)"
size=$(stat -c %s "$V/disk.raw")
blocks=$(stat -c %b "$V/disk.raw")
echo "apparent size $size, $blocks blocks of 512 ($((blocks * 512 / MiB)) MiB), data written $((DATA / MiB)) MiB; du: $(du -k "$V/disk.raw" | cut -f1) KiB"
assert_eq "$size" $((1024 * MiB)) "apparent size of the raw image on the mount"
[ $((blocks * 512)) -ge "$DATA" ] && [ $((blocks * 512)) -le $((DATA + MiB)) ] ||
    fail "the raw image on the mount is not sparse as its data: $((blocks * 512)) bytes allocated for $DATA bytes of data in $size"
extents "$V/disk.raw" >"$W/mount.extents" || fail "SEEK_DATA/SEEK_HOLE on the raw image on the mount failed"
assert_eq "$(cat "$W/mount.extents")" "$(cat "$W/local.extents")" "data extents (SEEK_DATA/SEEK_HOLE) of the raw image on the mount and of the local original"
map_data "$W/disk.raw" raw >"$W/local.map" || fail "qemu-img map of the local raw disk failed"
map_data "$V/disk.raw" raw >"$W/mount.map" || fail "qemu-img map --output=json of the raw image on the mount failed"
cat "$W/mount.map"
assert_eq "$(cat "$W/mount.map")" "$(cat "$W/local.map")" "qemu-img map of the raw image on the mount against the local original"
map_data "$V/disk.qcow2" qcow2 >"$W/qcow2.map" || fail "qemu-img map of the qcow2 on the mount failed"
assert_eq "$(cat "$W/qcow2.map")" "$(cat "$W/local.map")" "qemu-img map of the qcow2 on the mount against the local original"

# --- 2. dig holes -----------------------------------------------------------
# 160 MiB in three chunks ([0,64) [64,128) [128,160) MiB, chunks of 64 MiB);
# zeroing [40,136) MiB covers the middle chunk whole and the others in
# part: all 96 MiB become holes, the middle chunk goes back to the cluster.
CHUNK=$((64 * MiB))
D="$MNT/$B/dig"
mkdir -p "$D"
step "fill a file on the mount with data, zero [40,136) MiB of it in place"
random_file "$W/dig.local" $((160 * MiB))
run "dd into the mount" dd if="$W/dig.local" of="$D/disk.img" bs=1M conv=fsync status=none
for f in "$W/dig.local" "$D/disk.img"; do
    run "dd of zeros in place" dd if=/dev/zero of="$f" bs=1M seek=40 count=96 conv=notrunc,fsync status=none
done
full=$(($(stat -c %b "$D/disk.img") * 512))
echo "allocated before digging: $((full / MiB)) MiB"
assert_eq "$full" $((160 * MiB)) "allocated bytes of a file of 160 MiB of data and written zeros"
assert_same_file "$W/dig.local" "$D/disk.img" "the file with zeros written in place"

step "the cluster is quiet, then fallocate --dig-holes"
# A chunk written short of replicas (the writer met a busy chunk server:
# "writing degraded") gets them back from the healer, and released chunks
# are freed after the grace: either moves the used bytes, so both are done
# before the figures are taken.
GRACE=${CAIRN_RELEASE_GRACE:-60}
deadline=$((SECONDS + GRACE + 60))
until [ "$(space quiet)" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] ||
        fail "the cluster is not quiet $((GRACE + 60))s after the writes (chunk states: $(space states); release grace ${GRACE}s)"
    sleep 0.5
done
R=$(space replicas)
used0=$(space used)
chunks0=$(space chunks)
alloc0=$(space allocatable)
echo "before: $chunks0 chunks, $used0 bytes used on the chunk servers, $alloc0 allocatable, $R replicas"
run "fallocate --dig-holes" fallocate --dig-holes "$D/disk.img"
run "sync" sync
dug=$(($(stat -c %b "$D/disk.img") * 512))
echo "allocated after digging: $((dug / MiB)) MiB"
assert_eq "$dug" $((64 * MiB)) "allocated bytes after fallocate --dig-holes of 96 MiB of zeros in 160 MiB"
assert_same_file "$W/dig.local" "$D/disk.img" "the file read back after digging its holes"
extents "$D/disk.img" >"$W/dig.extents" || fail "SEEK_DATA/SEEK_HOLE on the dug file failed"
assert_eq "$(cat "$W/dig.extents")" "0 $((40 * MiB))
$((136 * MiB)) $((24 * MiB))" "data extents of the dug file (SEEK_DATA/SEEK_HOLE)"

step "the chunk the holes cover whole goes back to the cluster (cairn stat --json)"
# Each replica of the freed chunk: its 64 MiB, and a header (a few KiB).
want=$((R * CHUNK))
at_most=$((R * 96 * MiB + MiB))
deadline=$((SECONDS + GRACE + 30))
while :; do
    used=$(space used)
    fell=$((used0 - used))
    [ "$fell" -ge "$want" ] && break
    [ "$SECONDS" -lt "$deadline" ] ||
        fail "the chunk servers' used bytes fell by $fell in $((GRACE + 30))s after digging 96 MiB of holes (one 64 MiB chunk covered whole, $R replicas: $want expected; release grace ${GRACE}s; chunks $chunks0 -> $(space chunks), deleting $(space deleting))"
    sleep 0.5
done
chunks=$(space chunks)
alloc=$(space allocatable)
echo "after: $chunks chunks, $used bytes used (fell by $((fell / MiB)) MiB), $alloc allocatable (was $alloc0: it follows the free space of the disks under the chunk servers too)"
[ "$fell" -le "$at_most" ] || fail "the chunk servers' used bytes fell by $fell, more than the $at_most that $R replicas of 96 MiB of holes hold"
assert_eq "$chunks" $((chunks0 - 1)) "chunks in the cluster after the chunk covered whole by holes is freed"
assert_same_file "$W/dig.local" "$D/disk.img" "the dug file read back after its chunk was freed"

# --- 3. a container's root filesystem ---------------------------------------
ROOT="$MNT/$B/root"
step "a root filesystem on the mount: static busybox and its applet links"
mkdir -p "$ROOT/bin" "$ROOT/dev" "$ROOT/tmp" "$ROOT/run" "$ROOT/var/log" "$ROOT/var/lib"
run "cp busybox" cp "$BUSYBOX" "$ROOT/bin/busybox"
run "busybox --install -s in the chroot" chroot "$ROOT" /bin/busybox --install -s /bin
links=$(find "$ROOT/bin" -type l | wc -l)
applets=$("$BUSYBOX" --list | grep -vcx busybox)
echo "$links applet links for $applets applets"
assert_eq "$links" "$applets" "applet links made by busybox --install -s on the mount"
assert_eq "$(readlink "$ROOT/bin/sh")" "/bin/busybox" "the link /bin/sh"

cat >"$ROOT/script.sh" <<'EOF'
# Runs in the chroot, with busybox alone.
export PATH=/bin
fail() { echo "FAIL: in the chroot: $*"; exit 1; }
say() { echo "chroot: $*"; }
type_of() { stat -c '%F %t %T' "$1"; }

# First: the shell gives background jobs /dev/null as their stdin.
say "devices: mknod /dev/null, /dev/zero (character), /dev/loop200 (block)"
rm -f /dev/null /dev/zero /dev/loop200
mknod -m 666 /dev/null c 1 3 || fail "mknod /dev/null c 1 3"
mknod -m 666 /dev/zero c 1 5 || fail "mknod /dev/zero c 1 5"
mknod -m 660 /dev/loop200 b 7 200 || fail "mknod /dev/loop200 b 7 200"
[ "$(type_of /dev/null)" = "character special file 1 3" ] || fail "/dev/null is $(type_of /dev/null)"
[ "$(type_of /dev/zero)" = "character special file 1 5" ] || fail "/dev/zero is $(type_of /dev/zero)"
[ "$(type_of /dev/loop200)" = "block special file 7 c8" ] || fail "/dev/loop200 is $(type_of /dev/loop200)"
ls -l /dev | sed 's/^/chroot:   /'
echo "into the void" >/dev/null || fail "cannot write to /dev/null"
n=$(wc -c </dev/null) || fail "cannot read /dev/null"
[ "$n" = 0 ] || fail "read $n bytes from /dev/null"
n=$(head -c 65536 /dev/zero | tr -d '\000' | wc -c) || fail "cannot read /dev/zero"
[ "$n" = 0 ] || fail "/dev/zero gave $n bytes that are not zeros"
[ "$(head -c 65536 /dev/zero | wc -c)" = 65536 ] || fail "/dev/zero gave short reads"

say "a FIFO: mkfifo, a writer and a reader through it"
rm -f /tmp/fifo
mkfifo -m 640 /tmp/fifo || fail "mkfifo /tmp/fifo"
[ "$(stat -c '%F %a' /tmp/fifo)" = "fifo 640" ] || fail "/tmp/fifo is $(stat -c '%F %a' /tmp/fifo)"
seq 1 50000 >/tmp/fifo &
writer=$!
got=$(timeout 20 sh -c 'md5sum </tmp/fifo' | cut -d' ' -f1)
wait $writer || fail "the writer into /tmp/fifo failed"
want=$(seq 1 50000 | md5sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "read $got through the FIFO, the writer sent $want"
[ "$(stat -c %s /tmp/fifo)" = 0 ] || fail "the FIFO has size $(stat -c %s /tmp/fifo)"
say "  $(ls -l /tmp/fifo)"

say "a UNIX socket: syslogd binds /dev/log, logger writes through it"
rm -f /dev/log /var/log/messages
syslogd -n -O /var/log/messages &
syslogd=$!
echo "$syslogd" >>/run/pids
i=0
until [ -S /dev/log ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "syslogd bound no socket /dev/log in 10 s"
    sleep 0.1
done
[ "$(stat -c %F /dev/log)" = "socket" ] || fail "/dev/log is a $(stat -c %F /dev/log)"
say "  $(ls -l /dev/log)"
msg="through a UNIX socket on cairn $$"
logger -t cairn "$msg" || fail "logger could not send to /dev/log"
i=0
until grep -q "$msg" /var/log/messages 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "syslogd wrote no '$msg' to /var/log/messages in 10 s"
    sleep 0.1
done
say "  $(grep "$msg" /var/log/messages)"
kill $syslogd
wait $syslogd 2>/dev/null

say "all checks passed"
EOF

step "chroot ROOT /bin/sh /script.sh: a FIFO, a UNIX socket, devices, with busybox alone"
: >"$ROOT/run/pids"
echo "\$ chroot $ROOT /bin/sh /script.sh"
timeout -k 5 60 chroot "$ROOT" /bin/sh /script.sh >"$W/chroot.out" 2>&1
rc=$?
cp "$ROOT/run/pids" "$SCENARIO_TMP/chroot-pids" 2>/dev/null
cat "$W/chroot.out"
if [ "$rc" -ne 0 ]; then
    # Device nodes open only on a mount without `nodev`: say which it is.
    opts=$(awk -v m="$MNT" '$2 == m {print $4}' /proc/mounts)
    fail "the script in the chroot on the mount failed (exit $rc): $(grep '^FAIL' "$W/chroot.out" | tail -n 1 | sed 's/^FAIL: //')$(grep -v '^chroot\|^FAIL' "$W/chroot.out" | tail -n 2 | sed 's/^/; /' | tr '\n' ' ')(mount options: $opts)"
fi

step "a SQLite database in WAL mode in the root filesystem"
DB="$ROOT/var/lib/app.db"
run "sqlite3: WAL, a table, 5000 rows in ten transactions" sqlite3 "$DB" \
    "PRAGMA journal_mode=WAL;" \
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);" \
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t(v) SELECT hex(randomblob(64)) FROM n;" \
    "$(for i in $(seq 2 10); do printf 'BEGIN; INSERT INTO t(v) SELECT hex(randomblob(64)) FROM t LIMIT 500; COMMIT; '; done)"
capture "sqlite3: integrity_check and count" sqlite3 "$DB" "PRAGMA integrity_check;" "SELECT count(*), sum(length(v)) FROM t;"
assert_eq "$OUT" "ok
5000|640000" "the database on the mount"
DB_SUM=$(sqlite3 "$DB" "SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY id);" | md5sum | cut -d' ' -f1)

step "outside the chroot: the special files' types and device numbers"
# stat's %F, %t:%T (major:minor in hex) and mode of each special file.
specials() {
    local f
    for f in tmp/fifo dev/log dev/null dev/zero dev/loop200; do
        echo "$f: $(stat -c '%F %t:%T %a' "$ROOT/$f" 2>&1)"
    done
}
SPECIALS="tmp/fifo: fifo 0:0 640
dev/log: socket 0:0 666
dev/null: character special file 1:3 666
dev/zero: character special file 1:5 666
dev/loop200: block special file 7:c8 660"
capture "stat of the special files" specials
assert_eq "$OUT" "$SPECIALS" "the special files made in the chroot, seen outside it (type, major:minor in hex, mode; syslogd makes /dev/log 0666)"
BEFORE="$OUT"

step "the special files are not S3 objects"
# s3_keys PREFIX: the keys ListObjectsV2 gives under PREFIX (its slashes
# sent as %2F: curl 7.x signs the query as written, and SigV4 signs them
# encoded).
s3_keys() {
    local code
    code=$(s3_curl "$B?list-type=2&prefix=${1//\//%2F}")
    [ "$code" = 200 ] || fail "ListObjectsV2 $B prefix $1: HTTP $code $(head -c 300 "$SCENARIO_TMP/s3_curl.body")"
    grep -o '<Key>[^<]*</Key>' "$SCENARIO_TMP/s3_curl.body" | sed 's/<[^>]*>//g'
}
keys=$(s3_keys root/dev/; s3_keys root/tmp/)
echo "keys under root/dev/ and root/tmp/: ${keys:-none}"
# A directory made on the mount is its marker key (`root/dev/`); nothing
# else is there but the special files.
assert_eq "$keys" "root/dev/
root/tmp/" "S3 keys under root/dev/ and root/tmp/ (directory markers and special files only there)"
assert_contains "$(s3_keys root/var/log/)" "root/var/log/messages" "the log syslogd wrote is an object"
for f in tmp/fifo dev/log dev/null dev/zero dev/loop200; do
    code=$(s3_curl -I "$B/root/$f")
    assert_eq "$code" 404 "HEAD of the special file root/$f over S3"
done
code=$(s3_curl -I "$B/root/bin/busybox")
assert_eq "$code" 200 "HEAD of root/bin/busybox (a regular file) over S3"

step "remount: the images, the special files and the database are as they were"
unmount_cairn
mount_cairn
capture "stat of the special files after the remount" specials
assert_eq "$OUT" "$BEFORE" "the special files' types, device numbers and modes after a remount"
run "qemu-img check after the remount" qemu-img check "$V/disk.qcow2"
run "qemu-img compare after the remount" qemu-img compare -f raw -F raw "$W/disk.raw" "$V/disk.raw"
assert_contains "$(cat "$LAST_OUT")" "Images are identical" "qemu-img compare after the remount"
assert_same_file "$W/dig.local" "$D/disk.img" "the dug file after the remount"
capture "sqlite3 after the remount" sqlite3 "$DB" "PRAGMA integrity_check;" "SELECT count(*), sum(length(v)) FROM t;"
assert_eq "$OUT" "ok
5000|640000" "the database after the remount"
assert_eq "$(sqlite3 "$DB" "SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY id);" | md5sum | cut -d' ' -f1)" "$DB_SUM" "the database's rows after the remount"
run "the chroot's shell after the remount" chroot "$ROOT" /bin/sh -c 'echo still here >/dev/null && ls /bin | wc -l'

step "unmount"
unmount_cairn
finish "all image checks passed"
