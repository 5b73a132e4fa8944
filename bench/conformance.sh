#!/usr/bin/env bash
# Run the API conformance test (tests/e2e/test_api_conformance.py) far longer than the suite:
#   bench/conformance.sh [EXAMPLES] [BACKEND]   (default 500 examples per operation, sqlite)
set -euo pipefail
cd "$(dirname "$0")/.."
STOCKADE_CONFORMANCE_EXAMPLES="${1:-500}" STOCKADE_TEST_BACKEND="${2:-sqlite}" \
  exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_api_conformance.py
