#!/usr/bin/env bash
# Idempotent bootstrap run before `npm start` and `npm test`.
# Installs what is missing (npm dependencies, OS packages) or says exactly what to install.
# Safe to run any number of times; does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- Node ---------------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none)). Install Node 20: https://nodejs.org or 'apt-get install nodejs' from NodeSource."
  exit 1
fi

# --- OS packages (Debian/Ubuntu) ------------------------------------------------------------
# Each entry: "<command that must exist>:<debian package>". Later issues add chromium, ffmpeg
# here. redis-server: the edge's queue and frame store, and every edge test's own Redis.
# chromium: the hub dashboard's browser test (driven by playwright-core, which downloads nothing).
# initdb (postgresql): the hub's tests run against a real PostgreSQL cluster they start themselves
# (services/model-hub/src/testing/postgres.ts); Debian keeps it in /usr/lib/postgresql/<v>/bin.
OS_NEEDS=(redis-server:redis-server initdb:postgresql chromium:chromium ffmpeg:ffmpeg ${STOREVISION_OS_NEEDS:-})
missing=()
for need in "${OS_NEEDS[@]}"; do
  cmd=${need%%:*}; pkg=${need##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || compgen -G "/usr/lib/postgresql/*/bin/$cmd" >/dev/null || missing+=("$pkg")
done
# A CJK font, so Chromium draws the Chinese dashboard (and its test screenshots) with characters,
# not boxes. Any font that covers Chinese will do; when none is there, fonts-wqy-microhei is the
# smallest Debian one (~1.6 MB download; fonts-wqy-zenhei ~7.5 MB, fonts-noto-cjk ~56 MB).
# No pipe into grep/head: with pipefail an early exit of the reader would read as "no font".
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  missing+=(fonts-wqy-microhei)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing OS packages: ${missing[*]}"
    # apt-get update is needed once on a fresh machine before install can find anything.
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    say "installing OS packages with sudo: ${missing[*]}"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing OS packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# --- helm (charts/ tests) -------------------------------------------------------------------
# Not in Debian: built once from the Go module proxy into .tools/bin (git-ignored), reused after.
HELM_VERSION=v3.16.4
if [ ! -x .tools/bin/helm ] && ! command -v helm >/dev/null 2>&1; then
  if command -v go >/dev/null 2>&1; then
    say "building helm $HELM_VERSION into .tools/bin (go install, once)"
    GOBIN="$PWD/.tools/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 \
      || say "helm build failed; test/helm-chart.test.ts will fail until helm is installed"
  else
    say "helm missing (test/helm-chart.test.ts needs it): install Go >= 1.22 and rerun 'npm run bootstrap', or put helm v3 on PATH (https://helm.sh/docs/intro/install/)"
  fi
fi

# --- npm dependencies ---------------------------------------------------------------------
# onnxruntime-node's install script downloads CUDA libraries from a host outside the npm
# registry; the CPU build ships inside the package, so the download is skipped (also in .npmrc).
export ONNXRUNTIME_NODE_INSTALL=skip
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
