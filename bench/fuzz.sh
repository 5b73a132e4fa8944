#!/usr/bin/env bash
# Run the property-based fuzz tests (tests/unit/fuzz) far longer than the suite does.
#   bench/fuzz.sh [EXAMPLES]      (default 20000 examples per property; the suite runs 300)
set -euo pipefail
cd "$(dirname "$0")/.."
STOCKADE_FUZZ_EXAMPLES="${1:-20000}" STOCKADE_TEST_BACKEND=sqlite \
  exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit/fuzz
