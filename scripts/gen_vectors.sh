#!/usr/bin/env bash
# Regenerates every PyTorch reference file under tests/Vectors/. Needs Debian's python3-torch:
#   apt-get install -y --no-install-recommends python3-torch python3-numpy
# The tests read the committed files and need no Python.
set -euo pipefail
cd "$(dirname "$0")/vectors"
for f in [a-z]*.py; do
  [ "$f" = common.py ] && continue
  echo "== $f"
  /usr/bin/python3 "$f"
done
