#!/usr/bin/env python3
"""boto3 (newest from PyPI, default checksum settings) against the gateway.

The transfer manager (upload_file/download_file, multipart above its
threshold, ranged parallel downloads) and low-level calls: put/get/head,
ranges, conditionals, copy, list_objects_v2 pages, delete_objects,
multipart by hand, presigned GET and PUT, and an empty object followed by
another upload on the same connection (Expect: 100-continue).
"""

import base64
import hashlib
import os
import subprocess
import sys
import time
import urllib.request
import zlib

STEP = "start"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def step(msg):
    global STEP
    STEP = msg
    print(f"== {time.strftime('%H:%M:%S')} {msg}", flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)


def eq(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


try:
    import boto3
    import botocore
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:  # the venv lacks boto3
    msg = f"missing client: boto3 in the venv ({e}; conformance/install-deps installs it)"
    if os.environ.get("CI"):
        fail(msg)
    print(f"SKIP: {msg}", file=sys.stderr)
    sys.exit(77)

ENDPOINT = os.environ["CAIRN_S3_ENDPOINT"]
TMP = os.environ["SCENARIO_TMP"]
BIG = os.path.join(os.environ["CONFORMANCE_SHARED"], "big-200MiB")
BUCKET = os.environ["SCENARIO_NAME"] + "-data"

print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)


def client(**config):
    cfg = Config(s3={"addressing_style": "path"}, **config)
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg)


s3 = client()


def error_code(e):
    return e.response.get("Error", {}).get("Code"), e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def call(what, fn, *args, **kwargs):
    """Calls fn and turns an error into a scenario failure naming the call."""
    try:
        return fn(*args, **kwargs)
    except ClientError as e:
        code, status = error_code(e)
        fail(f"{what}: {status} {code}: {e}")
    except botocore.exceptions.BotoCoreError as e:
        fail(f"{what}: {type(e).__name__}: {e}")


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_file(a, b, what):
    check(os.path.exists(b), f"{what}: {b} is missing")
    eq(os.path.getsize(b), os.path.getsize(a), f"{what}: size")
    check(md5_file(a) == md5_file(b), f"{what}: bytes differ")


step("create_bucket, head_bucket, list_buckets")
call("create_bucket", s3.create_bucket, Bucket=BUCKET)
call("head_bucket", s3.head_bucket, Bucket=BUCKET)
names = [b["Name"] for b in call("list_buckets", s3.list_buckets)["Buckets"]]
check(BUCKET in names, f"list_buckets does not list {BUCKET}: {names}")
# In us-east-1 S3 answers 200 to its owner creating a bucket again (legacy
# behaviour; BucketAlreadyOwnedByYou in every other region).
call("create_bucket of one's own bucket again", s3.create_bucket, Bucket=BUCKET)
names = [b["Name"] for b in call("list_buckets", s3.list_buckets)["Buckets"]]
eq(names.count(BUCKET), 1, f"list_buckets after creating {BUCKET} again")

if os.environ.get("CAIRN_S3_CA_BUNDLE"):
    step("a wrong CA bundle fails with a certificate error")
    wrong_ca = os.path.join(TMP, "wrong-ca.pem")
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", wrong_ca + ".key", "-out", wrong_ca, "-days", "1",
         "-subj", "/CN=not the cluster CA"],
        capture_output=True)
    check(made.returncode == 0, f"openssl cannot make a throwaway CA: {made.stderr!r}")
    wrong = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", verify=wrong_ca,
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    try:
        wrong.list_buckets()
        fail("list_buckets trusting another CA succeeded")
    except botocore.exceptions.SSLError as e:
        check("certificate verify failed" in str(e).lower(),
              f"a wrong CA bundle failed, but not with a certificate error: {e}")

step("put_object with the default checksum, get_object, head_object")
data = os.urandom(100_000)
r = call("put_object", s3.put_object, Bucket=BUCKET, Key="low/level.bin", Body=data,
         Metadata={"colour": "blue"}, ContentType="application/x-cairn")
eq(r["ETag"], '"%s"' % hashlib.md5(data).hexdigest(), "put_object ETag")
crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
h = call("head_object", s3.head_object, Bucket=BUCKET, Key="low/level.bin", ChecksumMode="ENABLED")
eq(h["ContentLength"], len(data), "head_object ContentLength")
eq(h["Metadata"], {"colour": "blue"}, "head_object Metadata")
eq(h["ContentType"], "application/x-cairn", "head_object ContentType")
eq(h.get("ChecksumCRC32"), crc, "head_object ChecksumCRC32 (botocore sends CRC32 by default)")
g = call("get_object", s3.get_object, Bucket=BUCKET, Key="low/level.bin", ChecksumMode="ENABLED")
eq(g["Body"].read(), data, "get_object body")

step("ranges and conditionals")
g = call("get_object Range", s3.get_object, Bucket=BUCKET, Key="low/level.bin", Range="bytes=1000-1999")
eq(g["Body"].read(), data[1000:2000], "ranged get_object body")
eq(g["ContentRange"], f"bytes 1000-1999/{len(data)}", "ContentRange")
g = call("get_object suffix Range", s3.get_object, Bucket=BUCKET, Key="low/level.bin", Range="bytes=-10")
eq(g["Body"].read(), data[-10:], "suffix range body")
try:
    s3.get_object(Bucket=BUCKET, Key="low/level.bin", IfNoneMatch=h["ETag"])
    fail("get_object If-None-Match with the current ETag did not answer 304")
except ClientError as e:
    eq(error_code(e)[1], 304, "If-None-Match status")
try:
    s3.get_object(Bucket=BUCKET, Key="low/level.bin", IfMatch='"0123"')
    fail("get_object If-Match with another ETag did not answer 412")
except ClientError as e:
    eq(error_code(e)[1], 412, "If-Match status")
try:
    s3.get_object(Bucket=BUCKET, Key="no/such/key")
    fail("get_object of a missing key succeeded")
except ClientError as e:
    eq(error_code(e), ("NoSuchKey", 404), "get_object of a missing key")

step("an empty object, then another upload on the same connection (Expect: 100-continue)")
# botocore sends `Expect: 100-continue` with every PutObject. If the server
# answers an empty one with its final status without `100 Continue` first,
# botocore keeps that status line for the connection and misreads the next
# response on it (boto/botocore#3010): the client hangs until its read
# timeout. Real S3 sends `100 Continue` here; the gateway must too.
quick = client(read_timeout=10, connect_timeout=5, retries={"max_attempts": 1, "mode": "standard"},
               max_pool_connections=1)
call("put_object (empty)", quick.put_object, Bucket=BUCKET, Key="empty/one", Body=b"")
t0 = time.monotonic()
try:
    quick.put_object(Bucket=BUCKET, Key="empty/after", Body=b"x" * 70_000)
except botocore.exceptions.ReadTimeoutError:
    fail("a PutObject right after an empty PutObject on the same connection timed out: the gateway answered "
         "`PUT /%s/empty/one` (Content-Length: 0, Expect: 100-continue) with `200 OK` and no `100 Continue`; "
         "botocore then misparses the next response on that keep-alive connection (boto/botocore#3010) and "
         "waits for its read timeout (60 s by default, then retries). Send `100 Continue` for an empty body "
         "too, or close the connection after such a reply." % BUCKET)
except ClientError as e:
    fail(f"put_object after an empty one: {error_code(e)}")
check(time.monotonic() - t0 < 8, "a PutObject after an empty one took %.1fs" % (time.monotonic() - t0))
eq(call("get_object (empty)", s3.get_object, Bucket=BUCKET, Key="empty/one")["Body"].read(), b"", "empty object")

step("upload_file / download_file, 200 MiB (multipart, parallel ranged GETs)")
cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=16 << 20, max_concurrency=4)
call("upload_file (200 MiB)", s3.upload_file, BIG, BUCKET, "transfer/big", Config=cfg)
h = call("head_object (multipart)", s3.head_object, Bucket=BUCKET, Key="transfer/big")
eq(h["ContentLength"], os.path.getsize(BIG), "size of the uploaded 200 MiB file")
check(h["ETag"].strip('"').endswith("-13"), f"13 parts of 16 MiB should give an ETag ending -13: {h['ETag']}")
h1 = call("head_object PartNumber=1", s3.head_object, Bucket=BUCKET, Key="transfer/big", PartNumber=1)
eq(h1["ContentLength"], 16 << 20, "size of part 1 (head_object PartNumber=1)")
eq(h1.get("PartsCount"), 13, "PartsCount")
down = os.path.join(TMP, "big.back")
call("download_file (200 MiB)", s3.download_file, BUCKET, "transfer/big", down, Config=cfg)
same_file(BIG, down, "200 MiB file through upload_file/download_file")
os.remove(down)

step("upload_fileobj / download_fileobj, small")
small = os.path.join(TMP, "small")
with open(small, "wb") as f:
    f.write(os.urandom(3 * 1024 * 1024 + 17))
with open(small, "rb") as f:
    call("upload_fileobj", s3.upload_fileobj, f, BUCKET, "transfer/small", Config=cfg)
out = os.path.join(TMP, "small.back")
with open(out, "wb") as f:
    call("download_fileobj", s3.download_fileobj, BUCKET, "transfer/small", f, Config=cfg)
same_file(small, out, "small file through upload_fileobj/download_fileobj")

step("copy_object and the managed copy")
call("copy_object", s3.copy_object, Bucket=BUCKET, Key="copy/level.bin",
     CopySource={"Bucket": BUCKET, "Key": "low/level.bin"})
eq(call("get_object (copy)", s3.get_object, Bucket=BUCKET, Key="copy/level.bin")["Body"].read(), data, "copy_object")
call("copy (managed, multipart copy of 200 MiB)", s3.copy, {"Bucket": BUCKET, "Key": "transfer/big"}, BUCKET,
     "copy/big", Config=cfg)
h = call("head_object (managed copy)", s3.head_object, Bucket=BUCKET, Key="copy/big")
eq(h["ContentLength"], os.path.getsize(BIG), "size of the managed copy")
g = call("get_object Range (managed copy)", s3.get_object, Bucket=BUCKET, Key="copy/big",
         Range="bytes=100000000-100000999")
with open(BIG, "rb") as f:
    f.seek(100_000_000)
    eq(g["Body"].read(), f.read(1000), "bytes in the middle of the managed copy")

step("multipart upload by hand: parts out of order, list_parts, abort")
mp = call("create_multipart_upload", s3.create_multipart_upload, Bucket=BUCKET, Key="mpu/manual")
uid = mp["UploadId"]
p1, p2, p3 = os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(1234)
parts = {}
for n, body in ((2, p2), (1, p1), (3, p3)):
    r = call(f"upload_part {n}", s3.upload_part, Bucket=BUCKET, Key="mpu/manual", UploadId=uid, PartNumber=n, Body=body)
    parts[n] = r["ETag"]
lp = call("list_parts", s3.list_parts, Bucket=BUCKET, Key="mpu/manual", UploadId=uid)
eq([p["PartNumber"] for p in lp["Parts"]], [1, 2, 3], "list_parts part numbers")
ups = call("list_multipart_uploads", s3.list_multipart_uploads, Bucket=BUCKET)
check(any(u["UploadId"] == uid for u in ups.get("Uploads", [])), "list_multipart_uploads does not list the upload")
call("complete_multipart_upload", s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/manual", UploadId=uid,
     MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in (1, 2, 3)]})
eq(call("get_object (multipart)", s3.get_object, Bucket=BUCKET, Key="mpu/manual")["Body"].read(), p1 + p2 + p3,
   "multipart object assembled from parts sent out of order")
mp = call("create_multipart_upload (to abort)", s3.create_multipart_upload, Bucket=BUCKET, Key="mpu/aborted")
call("upload_part (to abort)", s3.upload_part, Bucket=BUCKET, Key="mpu/aborted", UploadId=mp["UploadId"],
     PartNumber=1, Body=b"abc")
call("abort_multipart_upload", s3.abort_multipart_upload, Bucket=BUCKET, Key="mpu/aborted", UploadId=mp["UploadId"])
try:
    s3.head_object(Bucket=BUCKET, Key="mpu/aborted")
    fail("an aborted upload left an object")
except ClientError as e:
    eq(error_code(e)[1], 404, "head_object of an aborted upload's key")

step("list_objects_v2 pages, delimiter, delete_objects")
keys = [f"many/k{i:03d}" for i in range(120)]
for k in keys:
    call(f"put_object {k}", s3.put_object, Bucket=BUCKET, Key=k, Body=k.encode())
pages = call("paginate list_objects_v2", lambda: list(
    s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="many/", PaginationConfig={"PageSize": 25})))
eq(len(pages), 5, "number of pages of 25")
eq([o["Key"] for p in pages for o in p.get("Contents", [])], keys, "keys over all pages, in order")
r = call("list_objects_v2 delimiter", s3.list_objects_v2, Bucket=BUCKET, Delimiter="/")
eq(sorted(p["Prefix"] for p in r.get("CommonPrefixes", [])),
   ["copy/", "empty/", "low/", "many/", "mpu/", "transfer/"], "common prefixes")
r = call("list_objects (v1) with marker", s3.list_objects, Bucket=BUCKET, Prefix="many/", Marker="many/k100", MaxKeys=5)
eq([o["Key"] for o in r["Contents"]], keys[101:106], "list_objects v1 after a marker")
eq(r["IsTruncated"], True, "list_objects v1 IsTruncated")
r = call("delete_objects", s3.delete_objects, Bucket=BUCKET,
         Delete={"Objects": [{"Key": k} for k in keys[:100]] + [{"Key": "many/never-existed"}]})
eq(len(r.get("Deleted", [])), 101, "delete_objects Deleted count (a missing key counts as deleted)")
eq(r.get("Errors", []), [], "delete_objects Errors")
r = call("list_objects_v2 after delete", s3.list_objects_v2, Bucket=BUCKET, Prefix="many/")
eq([o["Key"] for o in r.get("Contents", [])], keys[100:], "keys left after delete_objects")

step("presigned GET and PUT through urllib (SigV2 and SigV4 query signatures)")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for sig, signer in (("default", s3), ("s3v4", client(signature_version="s3v4"))):
    key = f"presigned/{sig}"
    # A signed Content-Type must be sent as signed (SigV2 signs it).
    url = signer.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": BUCKET, "Key": key, "ContentType": "application/octet-stream"})
    body = os.urandom(5000)
    req = urllib.request.Request(url, data=body, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with opener.open(req, timeout=30) as resp:
            eq(resp.status, 200, f"presigned PUT ({sig}) status")
    except urllib.error.HTTPError as e:
        fail(f"presigned PUT ({sig} signature, {url.split('?')[1][:40]}...): {e.code} {e.read()[:400]!r}")
    url = signer.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    try:
        with opener.open(url, timeout=30) as resp:
            eq(resp.read(), body, f"presigned GET ({sig}) body")
    except urllib.error.HTTPError as e:
        fail(f"presigned GET ({sig} signature): {e.code} {e.read()[:400]!r}")
    try:
        # The URL signed for one key, used for another.
        opener.open(url.replace(f"/{key}?", f"/{key}-other?"), timeout=30)
        fail(f"a presigned GET ({sig}) used for another key succeeded")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, f"presigned GET ({sig}) used for another key")

step("delete everything and the bucket")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
    objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
    if objs:
        call("delete_objects (cleanup)", s3.delete_objects, Bucket=BUCKET, Delete={"Objects": objs})
call("delete_bucket", s3.delete_bucket, Bucket=BUCKET)
try:
    s3.head_bucket(Bucket=BUCKET)
    fail("head_bucket of a deleted bucket succeeded")
except ClientError as e:
    eq(error_code(e)[1], 404, "head_bucket of a deleted bucket")
print("all boto3 checks passed")
