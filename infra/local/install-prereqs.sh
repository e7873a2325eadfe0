#!/usr/bin/env bash
# Installs, from Debian's packages, what the local stack and the tests need and the
# machine lacks: a Java 17+ runtime and Maven (Kafka), the independent clients the
# tests use as witnesses (kcat, awscli, restic), and GNU time (/usr/bin/time: peak RSS
# in `make bench-pipeline`, which also runs restic). Go 1.25+ is not in Debian stable; it
# must already be installed (go.dev/dl). Needs root and apt-get; otherwise it only
# reports what is missing.
set -euo pipefail
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v kcat >/dev/null || missing+=(kcat)
command -v aws >/dev/null || missing+=(awscli)
command -v restic >/dev/null || missing+=(restic)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -eq 0 ]; then
  echo "[prereqs] all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "[prereqs] missing: ${missing[*]} — install them with your package manager" >&2
  exit 1
fi
echo "[prereqs] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[prereqs] installed: ${missing[*]}"
