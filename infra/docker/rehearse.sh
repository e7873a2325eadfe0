#!/usr/bin/env bash
# Rehearses the image of the root Dockerfile where no Docker engine exists (`make image-rehearse`):
#   1. the build stage: its COPY lines (from the repository, without the *.test.ts files that
#      .dockerignore keeps out) and its `RUN npm …` steps, in a temporary folder;
#   2. the runtime stage: exactly what its COPY lines take, from the build folder or the repository;
#   3. the CLI run from that folder as an unprivileged user (uid 65534, no groups, an empty
#      environment), failing if a module the runtime needs is missing.
# What it cannot show: the base image, its apt packages and its Node version (this machine's
# node runs here, not the image's). Everything it creates is removed when it exits.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dockerfile=$repo/Dockerfile
uid=65534

log() { printf '[rehearse] %s\n' "$*"; }
die() { printf '[rehearse] FAILED: %s\n' "$*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
build=$tmp/build/app
runtime=$tmp/runtime/app
mkdir -p "$build" "$runtime"
declare -A runtime_env=()

# COPY [--from=build] SRC… DST, relative to WORKDIR /app, with Docker's semantics: a folder's
# contents are copied into DST; files go into DST when it ends with / or several are copied.
copy() {
  local stage=$1 root from="" dst target src path
  shift
  if [[ $1 == --from=* ]]; then from=${1#--from=}; shift; fi
  [ -z "$from" ] || [ "$from" = build ] || die "COPY --from=$from: only the build stage is rehearsed"
  dst=${*: -1}
  root=$build
  [ "$stage" = runtime ] && root=$runtime
  target=$root/${dst#/app/}
  for src in "${@:1:$#-1}"; do
    if [ -n "$from" ]; then path=$build/${src#/app/}; else path=$repo/$src; fi
    [ -e "$path" ] || die "COPY $src: not found (stage $stage)"
    if [ -d "$path" ]; then
      mkdir -p "$target"
      cp -a "$path/." "$target/"
    elif [[ $dst == */ ]] || [ $(($# - 1)) -gt 1 ]; then
      mkdir -p "$target"
      cp -a "$path" "$target/"
    else
      mkdir -p "$(dirname "$target")"
      cp -a "$path" "$target"
    fi
  done
  # .dockerignore keeps tests out of the build context.
  [ -n "$from" ] || find "$target" -name '*.test.ts' -delete
}

# The Dockerfile with continuation lines joined, one instruction per line.
instructions() { sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | grep -Ev '^\s*(#|$)'; }

stage=""
while read -r instruction args; do
  case $instruction in
    FROM) if [[ $args == *" AS build" ]]; then stage=build; else stage=runtime; fi ;;
    COPY)
      log "$stage: COPY $args"
      # shellcheck disable=SC2086 # the arguments are words
      copy "$stage" $args
      ;;
    RUN)
      if [ "$stage" = build ] && [[ $args == npm\ * ]]; then
        log "build: RUN $args"
        (cd "$build" && $args) >"$tmp/npm.log" 2>&1 || { cat "$tmp/npm.log" >&2; die "RUN $args"; }
      else
        log "$stage: skipped (base image packages): RUN ${args:0:60}…"
      fi
      ;;
    ENV)
      # The build stage's ENV points node-gyp at the image's headers; this machine's npm config applies.
      if [ "$stage" = runtime ]; then runtime_env[${args%%=*}]=${args#*=}; fi
      ;;
  esac
done < <(instructions)

[ -f "$runtime/bin/backstream.js" ] || die "the runtime stage has no bin/backstream.js"
log "runtime stage: $(du -sh "$runtime" | cut -f1) in $(find "$runtime" -type f | wc -l) files"

# Owned by root and not writable by the user, as the image's files are under a read-only root.
chmod -R a+rX,go-w "$tmp"
node_bin=$(command -v node)
as_user() {
  local env_args=(PATH="$(dirname "$node_bin"):/usr/bin:/bin" HOME=/nonexistent)
  local k
  for k in "${!runtime_env[@]}"; do env_args+=("$k=${runtime_env[$k]}"); done
  if [ "$(id -u)" = 0 ]; then
    (cd "$runtime" && setpriv --reuid=$uid --regid=$uid --clear-groups -- env -i "${env_args[@]}" "$@")
  else
    (cd "$runtime" && env -i "${env_args[@]}" "$@")
  fi
}

# check DESCRIPTION EXPECTED-EXIT-CODE TEXT-IN-OUTPUT COMMAND…
check() {
  local what=$1 want_rc=$2 text=$3 out rc=0
  shift 3
  out=$(as_user timeout 60 "$@" 2>&1) || rc=$?
  if [ "$rc" != "$want_rc" ]; then
    printf '%s\n' "$out" >&2
    die "$what: exit code $rc, wanted $want_rc"
  fi
  grep -qF -- "$text" <<<"$out" || { printf '%s\n' "$out" >&2; die "$what: output lacks '$text'"; }
  log "ok: $what"
}

log "running as uid $uid with $node_bin ($("$node_bin" --version); the image has its own)"
check "backstream --help" 0 "run" node bin/backstream.js --help
check "backstream config --help" 0 "--describe" node bin/backstream.js config --help
check "backstream run --help" 0 "chunk-worker" node bin/backstream.js run --help
check "backstream backup --help" 0 "--source" node bin/backstream.js backup --help
check "backstream config --describe (the whole settings schema)" 0 "BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS" \
  node bin/backstream.js config --describe
check "run without brokers stops with a configuration error (exit 2)" 2 "BACKSTREAM_KAFKA_BROKERS" \
  node bin/backstream.js run chunk-worker
check "zstd-napi's native addon loads and round-trips" 0 "zstd ok" node -e '
  const { Compressor, Decompressor } = require("zstd-napi");
  const data = Buffer.alloc(1 << 20, "backstream");
  const back = new Decompressor().decompress(new Compressor().compress(data));
  if (!back.equals(data)) process.exit(1);
  console.log("zstd ok");'
# shellcheck disable=SC2016 # JavaScript, not shell
check "every production dependency is installed" 0 "deps ok" node -e '
  const fs = require("fs");
  const missing = Object.keys(require("./package.json").dependencies)
    .filter((d) => !fs.existsSync(`node_modules/${d}/package.json`));
  if (missing.length) { console.log("missing:", missing.join(" ")); process.exit(1); }
  console.log("deps ok");'
# shellcheck disable=SC2016 # JavaScript, not shell
check "no development dependency is installed" 0 "prune ok" node -e '
  const fs = require("fs");
  const present = ["typescript", "jest", "eslint", "ts-jest", "prettier"].filter((d) => fs.existsSync(`node_modules/${d}`));
  if (present.length) { console.log("present:", present.join(" ")); process.exit(1); }
  console.log("prune ok");'
check "the user cannot write the application" 0 "read-only ok" node -e '
  try { require("fs").writeFileSync("bin/x", ""); process.exit(1); } catch { console.log("read-only ok"); }'
log "the runtime stage works as uid $uid; the image itself was not built (no Docker engine here)"
