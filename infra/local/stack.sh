#!/usr/bin/env bash
# The local development stack: one Apache Kafka broker (KRaft, from Maven Central jars)
# and one versitygw S3 gateway (built from the Go module proxy), both on 127.0.0.1,
# no Docker needed. State lives in $BACKSTREAM_STACK_DIR (default: <repo>/.stack).
#
#   stack.sh install   fetch Kafka jars and build versitygw (idempotent, cached)
#   stack.sh up        install, start both, wait until a real Kafka metadata call and a
#                      real S3 call succeed (idempotent: a running stack is left as is)
#   stack.sh down      stop both and wait until their processes are gone
#   stack.sh status    say what runs
#   stack.sh env       print the BACKSTREAM_* settings that point at this stack
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

state=${BACKSTREAM_STACK_DIR:-$repo/.stack}
kafka_port=${BACKSTREAM_STACK_KAFKA_PORT:-19092}
controller_port=${BACKSTREAM_STACK_CONTROLLER_PORT:-19093}
s3_port=${BACKSTREAM_STACK_S3_PORT:-19000}
# Development credentials: documented in the README, never to be used elsewhere.
s3_access_key=${BACKSTREAM_STACK_S3_ACCESS_KEY:-backstream}
s3_secret_key=${BACKSTREAM_STACK_S3_SECRET_KEY:-backstream-dev-secret}
ready_timeout=${BACKSTREAM_STACK_READY_TIMEOUT:-120}

kafka_dir=$state/kafka
kafka_libs=$kafka_dir/libs-$KAFKA_VERSION
gw_dir=$state/versitygw
gw_bin=$state/bin/versitygw-$VERSITYGW_VERSION

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------

check_java() {
  command -v java >/dev/null || die "Java ${MIN_JAVA_MAJOR}+ is required to run Kafka and was not found. Install a JDK (Debian: apt-get install openjdk-17-jre-headless)."
  local v major
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  major=${v%%.*}
  [ "$major" = 1 ] && major=$(echo "$v" | cut -d. -f2)
  [ "${major:-0}" -ge "$MIN_JAVA_MAJOR" ] 2>/dev/null || die "Java ${MIN_JAVA_MAJOR}+ is required, found '$v'. Install a newer JDK (Debian: apt-get install openjdk-17-jre-headless)."
}

check_maven() {
  command -v mvn >/dev/null || die "Maven is required to fetch the Kafka jars from Maven Central and was not found. Install it (Debian: apt-get install maven)."
}

check_go() {
  command -v go >/dev/null || die "Go 1.${MIN_GO_MINOR}+ is required to build versitygw and was not found. Install it from go.dev/dl or your package manager."
  local v minor
  v=$(go env GOVERSION 2>/dev/null || true)
  minor=$(echo "${v#go}" | cut -d. -f2)
  [ "${minor:-0}" -ge "$MIN_GO_MINOR" ] 2>/dev/null || die "Go 1.${MIN_GO_MINOR}+ is required to build versitygw ${VERSITYGW_VERSION}, found '${v:-unknown}'."
}

check_node() {
  [ -f "$repo/dist/services/cli/main.js" ] || die "the backstream CLI is not built: run 'make build' (the readiness check uses it)."
}

# --- install ---------------------------------------------------------------------

install_kafka() {
  [ -f "$kafka_libs/.complete" ] && return 0
  check_maven
  log "fetching Kafka ${KAFKA_VERSION} jars from Maven Central"
  rm -rf "$kafka_libs.tmp"
  mvn -B -q -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$kafka_libs.tmp" >&2 \
    || die "Maven could not resolve the Kafka jars (see above)."
  ls "$kafka_libs.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
    || die "kafka_2.13-${KAFKA_VERSION}.jar missing after Maven resolution; check infra/local/kafka/pom.xml."
  touch "$kafka_libs.tmp/.complete"
  mv "$kafka_libs.tmp" "$kafka_libs"
}

install_versitygw() {
  [ -x "$gw_bin" ] && return 0
  check_go
  log "building versitygw ${VERSITYGW_VERSION} with go install (first time takes a few minutes)"
  local tmp=$state/bin/.build
  rm -rf "$tmp" && mkdir -p "$tmp"
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}" >&2 \
    || die "go install of versitygw ${VERSITYGW_VERSION} failed (see above)."
  mv "$tmp/versitygw" "$gw_bin"
  rm -rf "$tmp"
}

install() {
  check_java
  mkdir -p "$state/bin" "$kafka_dir" "$gw_dir"
  install_kafka
  install_versitygw
}

# --- processes -------------------------------------------------------------------

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# versitygw's posix backend keeps object metadata in user xattrs; a filesystem that
# refuses them (some overlay and tmpfs setups) gets the sidecar folder instead.
xattrs_supported() {
  local probe=$gw_dir/.xattr-probe
  touch "$probe"
  local ok=1
  if command -v python3 >/dev/null; then
    python3 -c "import os,sys; os.setxattr(sys.argv[1], b'user.backstream', b'1')" "$probe" 2>/dev/null && ok=0
  elif command -v setfattr >/dev/null; then
    setfattr -n user.backstream -v 1 "$probe" 2>/dev/null && ok=0
  fi
  rm -f "$probe"
  return $ok
}

start_versitygw() {
  local pidf=$gw_dir/versitygw.pid
  if pid_alive "$pidf"; then log "versitygw already running (pid $(cat "$pidf"))"; return 0; fi
  mkdir -p "$gw_dir/data" "$gw_dir/versions"
  local extra=()
  if ! xattrs_supported; then
    log "filesystem refuses user xattrs: versitygw keeps metadata in a sidecar folder"
    mkdir -p "$gw_dir/sidecar"
    extra=(--sidecar "$gw_dir/sidecar")
  fi
  # --keep-alive: versitygw closes every connection after one response unless told otherwise,
  # which costs clients a TCP connect per request; S3 services (AWS, MinIO) keep connections.
  ROOT_ACCESS_KEY="$s3_access_key" ROOT_SECRET_KEY="$s3_secret_key" \
    setsid nohup "$gw_bin" --port "127.0.0.1:${s3_port}" --quiet --keep-alive \
      posix --versioning-dir "$gw_dir/versions" "${extra[@]}" "$gw_dir/data" \
      >"$gw_dir/versitygw.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  log "versitygw started on 127.0.0.1:${s3_port} (pid $!)"
}

java_classpath() { echo "$kafka_libs/*"; }

start_kafka() {
  local pidf=$kafka_dir/kafka.pid
  if pid_alive "$pidf"; then log "kafka already running (pid $(cat "$pidf"))"; return 0; fi
  mkdir -p "$kafka_dir/data" "$kafka_dir/logs"
  sed -e "s|@KAFKA_PORT@|$kafka_port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@DATA_DIR@|$kafka_dir/data|g" "$here/kafka/server.properties.in" >"$kafka_dir/server.properties"
  local jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
             "-Dlog4j2.configurationFile=$here/kafka/log4j2.xml" "-Dkafka.logs.dir=$kafka_dir/logs")
  if [ ! -f "$kafka_dir/data/meta.properties" ]; then
    # Formatting happens once per state folder; the id is kept in meta.properties.
    local cluster_id
    cluster_id=$(java -cp "$(java_classpath)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    log "formatting Kafka storage (cluster id $cluster_id)"
    java "${jvm[@]}" -cp "$(java_classpath)" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$kafka_dir/server.properties" --ignore-formatted >"$kafka_dir/logs/format.log" 2>&1 \
      || { cat "$kafka_dir/logs/format.log" >&2; die "kafka storage format failed"; }
  fi
  setsid nohup java "${jvm[@]}" -cp "$(java_classpath)" kafka.Kafka "$kafka_dir/server.properties" \
    >"$kafka_dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  log "kafka ${KAFKA_VERSION} started on 127.0.0.1:${kafka_port} (pid $!)"
}

# A development ledger signing key (the archiver signs the ledger), made once per state
# folder. Production keys come from a secret: see docs/audit.md.
dev_signing_key() {
  local key=$state/ledger-signing.key
  if [ ! -s "$key" ]; then
    mkdir -p "$state"
    (umask 077 && node -e "process.stdout.write(require('crypto').generateKeyPairSync('ed25519').privateKey.export({type:'pkcs8',format:'pem'}))" >"$key.tmp") \
      && mv "$key.tmp" "$key"
  fi
  echo "$key"
}

print_env() {
  local signing_key
  signing_key=$(dev_signing_key)
  cat <<EOF
export BACKSTREAM_KAFKA_BROKERS=127.0.0.1:${kafka_port}
export BACKSTREAM_S3_ENDPOINT=http://127.0.0.1:${s3_port}
export BACKSTREAM_S3_REGION=us-east-1
export BACKSTREAM_S3_ACCESS_KEY_ID=${s3_access_key}
export BACKSTREAM_S3_SECRET_ACCESS_KEY=${s3_secret_key}
export BACKSTREAM_S3_FORCE_PATH_STYLE=true
export BACKSTREAM_S3_BUCKET=backstream
export BACKSTREAM_LEDGER_SIGNING_KEY_FILE=${signing_key}
# Several services on one host: each picks a free health port (logged as "health server listening").
export BACKSTREAM_HEALTH_PORT=0
EOF
}

wait_ready() {
  local started=$1
  # The CLI's doctor makes a real Kafka metadata request and a real S3 ListBuckets,
  # retrying until both answer; a process that died meanwhile fails fast below.
  eval "$(print_env)"
  local deadline=$(( $(date +%s) + ready_timeout ))
  while :; do
    pid_alive "$kafka_dir/kafka.pid" || { tail -n 30 "$kafka_dir/logs/server.log" "$kafka_dir/logs/stdout.log" >&2 2>/dev/null || true; die "kafka exited during start-up (logs above, full logs in $kafka_dir/logs)"; }
    pid_alive "$gw_dir/versitygw.pid" || { tail -n 30 "$gw_dir/versitygw.log" >&2; die "versitygw exited during start-up (log above)"; }
    if node "$repo/bin/backstream.js" doctor --timeout 5 >/dev/null 2>"$state/doctor.err"; then break; fi
    [ "$(date +%s)" -lt "$deadline" ] || { cat "$state/doctor.err" >&2; die "stack not ready after ${ready_timeout}s"; }
    sleep 0.5
  done
  local ms=$(( $(date +%s%3N) - started ))
  log "ready in $(awk "BEGIN {printf \"%.1f\", $ms/1000}") s: kafka 127.0.0.1:${kafka_port}, s3 http://127.0.0.1:${s3_port}"
}

up() {
  local started
  started=$(date +%s%3N)
  install
  check_node
  start_versitygw
  start_kafka
  wait_ready "$started"
}

stop_pid() {
  local name=$1 pidf=$2 grace=${3:-30}
  pid_alive "$pidf" || { rm -f "$pidf"; return 0; }
  local pid
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within ${grace}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidf"
  log "$name stopped"
}

down() {
  stop_pid kafka "$kafka_dir/kafka.pid" 30
  stop_pid versitygw "$gw_dir/versitygw.pid" 10
}

status() {
  local rc=0
  if pid_alive "$kafka_dir/kafka.pid"; then echo "kafka: running (pid $(cat "$kafka_dir/kafka.pid")) on 127.0.0.1:${kafka_port}"; else echo "kafka: stopped"; rc=3; fi
  if pid_alive "$gw_dir/versitygw.pid"; then echo "versitygw: running (pid $(cat "$gw_dir/versitygw.pid")) on 127.0.0.1:${s3_port}"; else echo "versitygw: stopped"; rc=3; fi
  return $rc
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 install|up|down|status|env" >&2; exit 2 ;;
esac
