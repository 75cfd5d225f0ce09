#!/usr/bin/env bash
# Builds llama.cpp's llama-server once, from the llama.cpp source that the pinned node-llama-cpp (package.json here)
# ships as a git bundle, and converts the default model to GGUF (f32, q8_0, q4_0), all under tools/llamacpp/work
# (ignored by git). The multiturn benchmark's llamacpp systems look there; nothing else builds llama.cpp (CI never does).
# Run again, it does only what is missing or out of date.
#
#   nice -n 15 tools/llamacpp/build.sh            build llama-server (about 7 minutes on 2 idle cores) and the GGUFs
#   nice -n 15 tools/llamacpp/build.sh --check    then check the GGUFs against llama.cpp (tools/model/gguf_check.py):
#                                                 tokenizer, chat template, greedy agreement; report in work/gguf/check.json
# JOBS (default 2) sets the build's parallelism; MODEL another model folder to convert.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$here/work
model=${MODEL:-$root/models/tiny-chat}
jobs=${JOBS:-2}
check=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
# Debian's tools: the compiler and cmake for llama.cpp, git for the bundle, npm for the package, numpy for the
# converter; PyYAML (gguf-py imports it) and regex (bpe.py) for the check.
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v npm >/dev/null 2>&1 || missing+=(npm)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
if [ "$check" = 1 ]; then
  /usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
  /usr/bin/python3 -c 'import regex' 2>/dev/null || missing+=(python3-regex)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p "$work"

# 1. The package, for its llama/ folder only: no install scripts (they would download or build node binaries) and
#    no optional dependencies (the prebuilt binaries of every platform, CUDA's among them).
package=$here/node_modules/node-llama-cpp
# npm writes node_modules/.package-lock.json at each install (the packages' own files keep their fixed dates).
if [ ! -f "$package/llama/gitRelease.bundle" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  (cd "$here" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund)
fi
bundle=$package/llama/gitRelease.bundle
commit=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" { print $1 }')
tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$package/llama/llama.cpp.info.json")
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$package/package.json" | head -n 1)

# 2. The source at the bundle's commit.
if [ ! -d "$work/llama.cpp/.git" ]; then
  git clone -q "$bundle" "$work/llama.cpp"
fi
if [ "$(git -C "$work/llama.cpp" rev-parse HEAD)" != "$commit" ]; then
  git -C "$work/llama.cpp" fetch -q "$bundle" HEAD
  git -C "$work/llama.cpp" checkout -q --detach "$commit"
fi

# 3. llama-server alone, CPU only, static: no curl/OpenSSL (nothing is downloaded at run time), no web UI (its
#    prebuilt assets would be downloaded at build time), no tests or examples.
start=$(date +%s)
cmake -S "$work/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$work/configure.log" 2>&1 \
  || { tail -n 30 "$work/configure.log"; exit 1; }
cmake --build "$work/build" --target llama-server -j "$jobs" >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log"; exit 1; }
echo "llama-server: $work/build/bin/llama-server ($(( $(date +%s) - start )) s)"
echo "llama.cpp $commit (node-llama-cpp $version, llama.cpp.info.json tag $tag)" >"$work/llamacpp.info"

# 4. The rank file the converter reads (the ranks the .NET engine serves with), then the GGUFs.
ranks=$work/r50k_base.tiktoken
if [ ! -s "$ranks" ]; then
  dotnet run -c Release --project "$root/tools/model/DumpRanks" -- "$ranks"
fi
name=$(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$model/model.json" | head -n 1)
stale=0
for quant in f32 q8_0 q4_0; do
  out=$work/gguf/$name.$quant.gguf
  for input in "$model/model.weights" "$model/model.json" "$root/tools/model/to_gguf.py" "$ranks"; do
    if [ ! -f "$out" ] || [ "$input" -nt "$out" ]; then stale=1; fi
  done
done
if [ "$stale" = 1 ]; then
  /usr/bin/python3 "$root/tools/model/to_gguf.py" --model "$model" --ranks "$ranks" --out-dir "$work/gguf"
fi

if [ "$check" = 1 ]; then
  /usr/bin/python3 "$root/tools/model/gguf_check.py" --server "$work/build/bin/llama-server" --gguf-dir "$work/gguf" \
    --gguf-py "$work/llama.cpp/gguf-py" --ranks "$ranks" --model "$model" --json "$work/gguf/check.json" >/dev/null \
    && echo "check passed: $work/gguf/check.json" \
    || { echo "check failed: $work/gguf/check.json"; exit 1; }
fi
