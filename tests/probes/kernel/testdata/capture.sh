#!/usr/bin/env bash
# Re-records the sock_diag captures in this folder in a private network namespace (root needed).
#   tests/probes/kernel/testdata/capture.sh BUILD_DIR
# Writes sock_diag_v4.bin, sock_diag_v6.bin (raw netlink datagrams, concatenated) and ss_tan.txt
# (what ss saw at the same moment), then derives the hand-made broken copies.
set -euo pipefail
build=${1:?usage: capture.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tool=$build/tests/probes/kernel/capture-sock-diag
unshare --net bash -c "ip link set lo up && '$tool' '$here' 2> '$here/ss_tan.txt'"
python3 "$here/make_broken.py" "$here"
