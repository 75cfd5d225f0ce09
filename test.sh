#!/usr/bin/env bash
# Runs every test project of the solution in Release, after installing what the tests need.
# Ends with one line: "N passed, N failed, N skipped"; when something failed, a digest of the failures (each failed
# test's name and the first lines of its message) comes just before it, since CI shows only the last lines.
set -uo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

install_missing() {
  # Debian packages the tests use: redis-server (the cluster's storage and membership in later test suites), chromium
  # (headless, draws the operator's serving page), numpy and jinja2 for Debian's python3 (the GGUF converter's test
  # runs tools/model/to_gguf.py and renders its chat template), onnx for it too (quantize.py's int8 family folders).
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || missing+=(python3-numpy)
  /usr/bin/python3 -c 'import jinja2' >/dev/null 2>&1 || missing+=(python3-jinja2)
  /usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || missing+=(python3-onnx)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_missing || { echo "could not install test prerequisites"; echo "0 passed, 1 failed"; exit 1; }

if ! command -v dotnet >/dev/null 2>&1; then
  echo "the .NET 10 SDK (dotnet) is required"; echo "0 passed, 1 failed"; exit 1
fi

# The whole output stays in TestResults/test.log (CI shows only its last lines).
mkdir -p TestResults
log=TestResults/test.log

dotnet build AutoGlm.Orleans.sln -c Release -nologo -clp:ErrorsOnly 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

# Each failed test's name and the first lines of its message, from Microsoft.Testing.Platform's report of it:
#   failed Namespace.Class.Method(args) (12ms)
#     from /path/to/Project.dll (net10.0|x64)
#     <message, indented two spaces>
#       at <stack, indented four>
# then the projects that failed ("<dll> (net10.0|x64) failed with 1 error(s) (28s)"). At most ~40 lines.
digest() {
  awk -v budget=36 -v per_test=5 '
    function clip(s) { return length(s) > 200 ? substr(s, 1, 197) "..." : s }
    { gsub(/\033\[[0-9;]*[A-Za-z]/, ""); sub(/\r$/, "") }
    /^(failed|error|canceled|timed out|timeout) [^\/]/ {
      name = $0; sub(/^[a-z]+( out)? /, "", name)
      tests++; text[tests] = "  " clip(name); lines[tests] = 1; block = 1; taken = 0; next
    }
    block && /^  from / { next }
    block && /^    (at |--- End of |----- Inner )/ { block = 0; next }
    block && /^  / {
      if (taken < per_test) { l = $0; sub(/^  /, "", l); text[tests] = text[tests] "\n      " clip(l); lines[tests]++; taken++ }
      next
    }
    { block = 0 }
    # A project that failed, its exit code and (a crash) the first lines of its error output; never its standard output.
    /^\/.*\) (failed|crashed|aborted|exited)/ && !/ passed / {
      l = $0; sub(/^\/.*\//, "", l); projects[++np] = "  " clip(l); plines[np] = 1; project = 1; next
    }
    project && /^Exit code: / { projects[np] = projects[np] ", e" substr($0, 2); next }
    project && /^  Error output: / { errors = 1; taken = 0; l = $0; sub(/^  Error output: /, "", l) }
    project && errors && /^  / && !/^ +at / && !/^  Standard output:/ {
      if (taken < per_test) { if (taken) { l = $0; sub(/^  /, "", l) } projects[np] = projects[np] "\n      " clip(l); plines[np]++; taken++ }
      next
    }
    project && /^  / { errors = 0; next }
    { project = 0; errors = 0 }
    END {
      if (tests == 0 && np == 0) exit
      print "---- failed: " (tests + 0) " test(s), " (np + 0) " project(s) (whole output: TestResults/test.log) ----"
      reserved = 0
      for (j = 1; j <= np; j++) reserved += plines[j]
      used = 0
      for (i = 1; i <= tests; i++) {
        if (i > 1 && used + lines[i] > budget - reserved) break
        print text[i]; used += lines[i]
      }
      if (i <= tests) print "  ... and " (tests - i + 1) " more failed test(s)"
      for (j = 1; j <= np; j++) print projects[j]
    }
  ' "$log"
}

# Microsoft.Testing.Platform (global.json) runs each test project and prints a summary per run.
touch TestResults/.started
dotnet test --solution AutoGlm.Orleans.sln -c Release --no-build --no-progress 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

total=$(grep -E '^\s*total: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^\s*failed: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
passed=$(grep -E '^\s*succeeded: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
skipped=$(grep -E '^\s*skipped: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the runner itself failed (crash, no tests found): never report green
fi
if [ "$total" -eq 0 ]; then
  echo "no tests ran"; failed=$((failed > 0 ? failed : 1))
fi
if [ "$failed" -ne 0 ]; then
  failures=$(digest)
  [ -n "$failures" ] && echo "$failures"
  # A failed project that keeps its in-process silos' logs in a file (not on the console): where that file is.
  for silo_logs in $(find tests -path '*/TestResults/silo-logs.txt' -newer TestResults/.started 2>/dev/null); do
    project=${silo_logs#tests/}; project=${project%%/*}
    case "$failures" in *"$project.dll"*) echo "  silo logs: $silo_logs" ;; esac
  done
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
