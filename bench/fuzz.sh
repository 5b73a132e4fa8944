#!/usr/bin/env bash
# Run the fuzz tests (tests/unit/fuzz) far longer than the suite does:
#   bench/fuzz.sh [EXAMPLES] [SECONDS]
# EXAMPLES: hypothesis examples per property (default 20000; the suite runs 300).
# SECONDS: atheris (libFuzzer) time per target (default 600; the suite runs 3), each under
# the same RSS limit as in the suite. A crash leaves libFuzzer's reproducer (crash-…) in the
# test's tmp folder, named in the failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export STOCKADE_TEST_BACKEND=sqlite
STOCKADE_FUZZ_EXAMPLES="${1:-20000}" STOCKADE_ATHERIS_SECONDS="${2:-600}" \
  exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=0 tests/unit/fuzz
