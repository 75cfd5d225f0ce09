#!/usr/bin/env bash
# Runs every test project of the solution in Release, after installing what the tests need.
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

install_missing() {
  # Debian packages the tests use: redis-server (the cluster's storage and membership in later test suites).
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_missing || { echo "could not install test prerequisites"; echo "0 passed, 1 failed"; exit 1; }

if ! command -v dotnet >/dev/null 2>&1; then
  echo "the .NET 10 SDK (dotnet) is required"; echo "0 passed, 1 failed"; exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet build AutoGlm.Orleans.sln -c Release -nologo -clp:ErrorsOnly 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

# Microsoft.Testing.Platform (global.json) runs each test project and prints a summary per run.
dotnet test --solution AutoGlm.Orleans.sln -c Release --no-build --no-progress 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

total=$(grep -E '^\s*total: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^\s*failed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
passed=$(grep -E '^\s*succeeded: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
skipped=$(grep -E '^\s*skipped: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)

# The failed tests last, so a log cut to its tail still names them: each "failed <test>" line and the start of its message.
if grep -qE '^failed ' "$log"; then
  echo "failed tests:"
  awk '/^failed /{n=6} n>0{print; n--}' "$log" | grep -vE '^\s+at ' | head -n 40
fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the runner itself failed (crash, no tests found): never report green
fi
if [ "$total" -eq 0 ]; then
  echo "no tests ran"; failed=$((failed > 0 ? failed : 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
