#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh machine, builds the binaries
# the end-to-end tests start, and runs every test: unit tests, store behaviour suites on SQLite and
# PostgreSQL, and end-to-end tests with real processes over mutual TLS.
#
# PostgreSQL: MPX_TEST_POSTGRES_URL (postgres://USER@HOST:PORT/DB, a role that may CREATE DATABASE)
# is used when set; otherwise the harness starts a throwaway server of its own from the installed
# binaries, so nothing here depends on a server that happens to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

have_postgres_binaries() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if [ -z "${MPX_TEST_POSTGRES_URL:-}" ] && ! have_postgres_binaries; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing PostgreSQL from Debian's packages (for the PostgreSQL half of the tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "note: PostgreSQL is not installed and MPX_TEST_POSTGRES_URL is not set;" \
         "the PostgreSQL tests will say they were skipped (install the postgresql package to run them)" >&2
  fi
fi

# faketime (LD_PRELOAD) lets an end-to-end test run one node in the future: a late answer
# between two real processes without any clock knob in the product.
if ! command -v faketime >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing faketime from Debian's packages (for the late-answer end-to-end test)"
    [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null; }
  else
    echo "note: faketime is not installed; the late-answer end-to-end test will fail (apt-get install faketime)" >&2
  fi
fi

# The console's browser tests drive Debian's chromium through its chromedriver (the same build,
# so they always match) and need a CJK font, or every Chinese glyph renders as a box.
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium, chromium-driver and fonts-wqy-microhei from Debian's packages (for the console's browser tests)"
    [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null; }
  else
    echo "note: chromium/chromium-driver/fonts-wqy-microhei are not installed; the console browser tests will fail (apt-get install them)" >&2
  fi
fi

# openpyxl (Python) opens the workbooks we write in a program other than ours, as a clerk's
# spreadsheet would, in the workbook tests. From PyPI; pinned to the version the fixtures were
# made with (tests/fixtures/sheets/generate.py).
if ! python3 -c 'import openpyxl' >/dev/null 2>&1; then
  echo "==> installing openpyxl from PyPI (for the workbook tests)"
  python3 -m pip install --quiet --disable-pip-version-check 'openpyxl==3.1.5' \
    || echo "note: openpyxl could not be installed; the workbook tests will fail (pip install openpyxl==3.1.5)" >&2
fi

# faketime leaves a semaphore and a shared-memory file named by its pid when it is killed; a later
# faketime that gets the same pid then fails to start. Remove those of processes that are gone.
for leftover in /dev/shm/sem.faketime_sem_* /dev/shm/faketime_shm_*; do
  [ -e "$leftover" ] || continue
  pid="${leftover##*_}"
  [ -d "/proc/$pid" ] || rm -f "$leftover"
done

echo "==> building the binaries the end-to-end tests start"
cargo build --workspace --bins
# Processes this suite started (their command lines name the harness's temporary directories)
# that are still alive: a test that leaks processes fails the run.
# Where cargo puts the binaries: CARGO_TARGET_DIR when set (relative to the workspace, as cargo
# reads it), else ./target.
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd -P)/$target_dir" ;; esac
leftover_processes() {
  local pid exe
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case "$exe" in "$target_dir"/*) ;; *) continue ;; esac
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'mpx-(e2e|bench)-'; then
      echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-160)"
    fi
  done
}

echo "==> running the tests"
cargo test --workspace "$@"
# The benchmarks at tiny sizes: every scenario's code path runs against real processes and
# fails on an error, never on a slow figure (figures are not kept; see BENCHMARKS.md).
if [ "$#" -eq 0 ]; then
  echo "==> benchmark smoke run (mpx-bench --quick)"
  "$target_dir/debug/mpx-bench" --quick --runs 1
fi

echo "==> checking that the tests left no process running"
sleep 1
left="$(leftover_processes)"
if [ -n "$left" ]; then
  echo "error: these processes started by the tests are still running:" >&2
  echo "$left" >&2
  exit 1
fi
echo "none left"
