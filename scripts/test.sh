#!/usr/bin/env bash
# The README's test command: sets up the environment (first run only), runs every test on the main ComfyUI host (the
# newest found, or COMFYUI_PATH) and then the smoke subset (-m smoke) on the oldest other ComfyUI version found
# (C2D_SMOKE_COMFYUI), each in its own process (one ComfyUI per process). Arguments go to the main run only.
# Each run prints its 25 slowest tests and the time per test folder; the last line adds both runs up.
# C2D_KEEP_REPORTS=DIR keeps both runs' JUnit XML (every test's time) in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
source scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
echo "[test] set-up took $(( $(date +%s) - T0 )) s"
if [ -n "${COMFYUI_PATH:-}" ]; then
  echo "[test] ComfyUI host: $COMFYUI_PATH (host tests will run)"
else
  echo "!!! [test] NO ComfyUI HOST FOUND: host tests will be SKIPPED and prove nothing."
  echo "!!!        Set COMFYUI_PATH to a ComfyUI checkout (0.3.64 to 0.33.0 are tested) to run them."
fi
BROWSER="$("$C2D_PY" -c 'from devtools.frontend import find_chromium; print(find_chromium() or "")')"
if [ -n "$BROWSER" ]; then
  echo "[test] Chromium found: $BROWSER (front-end tests will run)"
else
  echo "!!! [test] NO CHROMIUM FOUND: front-end tests will be SKIPPED and prove nothing."
  echo "!!!        Install Debian's chromium (.ci/run does) or set C2D_CHROMIUM."
fi
echo "[test] disk: $(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {printf "%.1f", $4/1e6}') GB free in ${TMPDIR:-/tmp}"
REPORTS="$(mktemp -d)"
set +e
"$C2D_PY" -m pytest -c tests/pytest.ini tests --junitxml="$REPORTS/main.xml" "$@"
rc=$?
smoke_rc=0
if [ -n "${C2D_SMOKE_COMFYUI:-}" ] && [ "$rc" -ne 5 ]; then
  echo "[test] smoke subset on the oldest other ComfyUI found: $C2D_SMOKE_COMFYUI"
  COMFYUI_PATH="$C2D_SMOKE_COMFYUI" "$C2D_PY" -m pytest -c tests/pytest.ini tests -m smoke -p no:cacheprovider \
    --junitxml="$REPORTS/smoke.xml"
  smoke_rc=$?
fi
set -e
"$C2D_PY" -m devtools.test_report "$REPORTS"/*.xml --started "$T0" || true
if [ -n "${C2D_KEEP_REPORTS:-}" ]; then   # every test's time, for budget work: the JUnit XML of each run
  mkdir -p "$C2D_KEEP_REPORTS" && cp "$REPORTS"/*.xml "$C2D_KEEP_REPORTS"/ && echo "[test] JUnit reports kept in $C2D_KEEP_REPORTS"
fi
rm -rf "$REPORTS"
[ "$rc" -eq 5 ] && { echo "[test] pytest collected no tests"; exit 1; }
[ "$rc" -ne 0 ] && exit "$rc"
exit "$smoke_rc"
