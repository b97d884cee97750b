#!/usr/bin/env bash
# aws-cli v2 from Debian's `awscli` package against the gateway: mb, cp of a
# small and a 200 MiB (multipart) file, sync both ways, ls, rm --recursive,
# presign + curl, s3api head-object/copy-object/list-objects-v2 pagination.
. "$CONFORMANCE_DIR/lib/common.sh"
dpkg -s awscli >/dev/null 2>&1 || missing_client "Debian package awscli"
AWS_BIN=/usr/bin/aws
AWS_EXPECT_CHECKSUMS=0
. "$CONFORMANCE_DIR/lib/awscli.sh"
