#!/usr/bin/env bash
# The newest awscli from PyPI (in the venv), which sends CRC32 integrity
# checksums by default: the same checks as awscli-debian, plus the stored
# checksum of an object it uploaded.
. "$CONFORMANCE_DIR/lib/common.sh"
AWS_BIN="$CAIRN_VENV/bin/aws"
AWS_EXPECT_CHECKSUMS=1
. "$CONFORMANCE_DIR/lib/awscli.sh"
