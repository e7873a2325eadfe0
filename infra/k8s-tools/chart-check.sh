#!/usr/bin/env bash
# `make chart-check`: validates the Helm chart in infra/helm/backstream.
#   1. helm lint --strict, with the defaults and with every value set in values/;
#   2. helm template of every value set, each manifest checked by kubeconform -strict against
#      the Kubernetes schemas (every version in versions.env) and the KEDA schemas, with no
#      -ignore-missing-schemas: a kind without a schema is an error;
#   3. checks that prove the validation bites: autoscaler maxima capped at the partitions,
#      impossible or mistyped values refused by the chart, and each manifest in rejected/
#      refused by kubeconform with the message its first line expects.
# Tools and schemas come from tools.sh (pinned, cached in .tools/). Exits 1 on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=infra/k8s-tools/versions.env
source "$here/versions.env"
tools=${BACKSTREAM_TOOLS_DIR:-$repo/.tools}
chart=$repo/infra/helm/backstream
started=$(date +%s)

"$here/tools.sh"
helm=$tools/bin/helm
kubeconform=$tools/bin/kubeconform
py=$tools/venv/bin/python
read -r -a k8s_versions <<<"$KUBERNETES_VERSIONS"
oldest=${k8s_versions[0]#v}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Helm keeps caches and repository lists under $HOME otherwise.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data

failures=0
step() { printf '\n[chart-check] %s\n' "$*"; }
pass() { printf '[chart-check]   ok: %s\n' "$*"; }
fail() {
  printf '[chart-check]   FAILED: %s\n' "$*" >&2
  failures=$((failures + 1))
}

render() { "$helm" template ci "$chart" --namespace backstream --kube-version "$oldest" "$@"; }

# kubeconform against every pinned Kubernetes version; the KEDA files share the KindSuffix layout.
validate() {
  local v rc=0
  for v in "${k8s_versions[@]}"; do
    printf '[chart-check]   kubernetes %s: ' "$v"
    "$kubeconform" -strict -summary -output text -kubernetes-version "${v#v}" \
      -schema-location "$tools/schemas/k8s" \
      -schema-location "$tools/schemas/keda-$KEDA_VERSION/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$1" || rc=1
  done
  return $rc
}

# The value at a path of one rendered object: field FILE KIND NAME key… (list items by index).
field() {
  "$py" - "$@" <<'EOF'
import sys, yaml
path, kind, name, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
for doc in yaml.safe_load_all(open(path)):
    if doc and doc.get("kind") == kind and doc["metadata"]["name"] == name:
        value = doc
        for key in keys:
            if isinstance(value, list):
                value = value[int(key)] if int(key) < len(value) else None
            elif isinstance(value, dict):
                value = value.get(key)
            if value is None:
                break
        print("" if value is None else value)
        sys.exit(0)
sys.exit(f"no {kind} {name} in the rendered manifests")
EOF
}

# The environment variable names of a workload's first container.
env_names() {
  "$py" - "$@" <<'EOF'
import sys, yaml
path, kind, name = sys.argv[1:4]
for doc in yaml.safe_load_all(open(path)):
    if doc and doc.get("kind") == kind and doc["metadata"]["name"] == name:
        spec = doc["spec"]["template"]["spec"] if kind != "CronJob" else doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        print(" ".join(e["name"] for e in spec["containers"][0].get("env", [])))
EOF
}

# Kinds of the rendered objects, sorted, with counts: "ConfigMap Deployment*3 …".
kinds() {
  "$py" - "$1" <<'EOF'
import collections, sys, yaml
count = collections.Counter(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)
print(" ".join(k if n == 1 else f"{k}*{n}" for k, n in sorted(count.items())))
EOF
}

expect() { # description, actual, wanted
  if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', wanted '$3'"; fi
}

# helm template must fail, and say why: description, expected text, helm args…
expect_refused() {
  local what=$1 text=$2 out
  shift 2
  if out=$(render "$@" 2>&1); then
    fail "$what: rendered, should have been refused"
  elif grep -qF -- "$text" <<<"$out"; then
    pass "$what: refused ($text)"
  else
    fail "$what: refused, but not with '$text': $out"
  fi
}

step "tools: helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, Kubernetes schemas $KUBERNETES_VERSIONS, KEDA $KEDA_VERSION"

step "helm lint --strict"
lint() { # description, helm lint args…
  local what=$1
  shift
  if "$helm" lint --strict --kube-version "$oldest" "$chart" "$@" >"$work/lint.log" 2>&1; then
    pass "$what"
  else
    cat "$work/lint.log" >&2
    fail "helm lint: $what"
  fi
}
lint "values.yaml as shipped"
for values in "$here"/values/*.yaml; do
  lint "values/$(basename "$values")" -f "$values"
done

step "helm template | kubeconform -strict, every value set"
for values in "$here"/values/*.yaml; do
  name=$(basename "$values" .yaml)
  printf '[chart-check] %s\n' "$name"
  if render -f "$values" >"$work/$name.yaml" 2>"$work/render.log"; then
    validate "$work/$name.yaml" || fail "values/$name.yaml: kubeconform found invalid manifests"
  else
    cat "$work/render.log" >&2
    fail "values/$name.yaml: helm template failed"
  fi
done

step "what the value sets render"
d=$work/defaults.yaml
expect "defaults: kinds" "$(kinds "$d")" "ConfigMap Deployment*3 Job PodDisruptionBudget*3 ScaledObject*3 Secret*2 ServiceAccount*2"
# No hook Secret here: the init Job gets no signing key, and that is the only secret.
expect "hpa: kinds" "$(kinds "$work/hpa.yaml")" "ConfigMap Deployment*3 HorizontalPodAutoscaler*3 Job PodDisruptionBudget*3 Secret ServiceAccount*2"
expect "static: kinds" "$(kinds "$work/static-producer-existing-secret.yaml")" "ConfigMap Deployment*4 PodDisruptionBudget*4"
expect "cronjob: kinds" "$(kinds "$work/cronjob.yaml")" "ConfigMap CronJob Deployment*3 Job PodDisruptionBudget*3 ScaledObject*3 Secret*2 ServiceAccount*2"
expect "chunk-worker KEDA trigger: consumer group" "$(field "$d" ScaledObject ci-backstream-chunk-worker spec triggers 0 metadata consumerGroup)" "backstream.chunk-worker"
expect "verifier KEDA trigger: topic" "$(field "$d" ScaledObject ci-backstream-verifier spec triggers 0 metadata topic)" "backstream.stored"
expect "archiver KEDA trigger: topic" "$(field "$d" ScaledObject ci-backstream-archiver spec triggers 0 metadata topic)" "backstream.progress"
expect "topic prefix reaches the trigger" "$(field "$work/keda-sasl-hostpath.yaml" ScaledObject ci-backstream-chunk-worker spec triggers 0 metadata consumerGroup)" "prod.backstream.chunk-worker"
expect "terminationGracePeriodSeconds = preStop 5 + grace 20 + margin 10" "$(field "$d" Deployment ci-backstream-verifier spec template spec terminationGracePeriodSeconds)" "35"
expect "terminationGracePeriodSeconds = preStop 10 + grace 45 + margin 10" "$(field "$work/keda-sasl-hostpath.yaml" Deployment ci-backstream-archiver spec template spec terminationGracePeriodSeconds)" "65"
expect "readiness probe path" "$(field "$d" Deployment ci-backstream-archiver spec template spec containers 0 readinessProbe httpGet path)" "/readyz"
expect "archiver's secret environment" "$(env_names "$d" Deployment ci-backstream-archiver)" "BACKSTREAM_S3_ACCESS_KEY_ID BACKSTREAM_S3_SECRET_ACCESS_KEY BACKSTREAM_LEDGER_SIGNING_KEY"
expect "chunk-worker gets no signing key" "$(env_names "$d" Deployment ci-backstream-chunk-worker)" "BACKSTREAM_S3_ACCESS_KEY_ID BACKSTREAM_S3_SECRET_ACCESS_KEY"
s=$work/static-producer-existing-secret.yaml
expect "key files: archiver" "$(env_names "$s" Deployment ci-backstream-archiver | tr ' ' '\n' | grep _FILE | xargs)" "BACKSTREAM_LEDGER_SIGNING_KEY_FILE BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE"
expect "key files: verifier" "$(env_names "$s" Deployment ci-backstream-verifier | tr ' ' '\n' | grep _FILE | xargs)" "BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE"
expect "numbers in config stay integers" "$(field "$s" ConfigMap ci-backstream data BACKSTREAM_ARCHIVER_ABANDON_AFTER_MS)" "21600000"
expect "backup CronJob: concurrencyPolicy" "$(field "$work/cronjob.yaml" CronJob ci-backstream-backup spec concurrencyPolicy)" "Forbid"
expect "backup CronJob: args" "$(field "$work/cronjob.yaml" CronJob ci-backstream-backup spec jobTemplate spec template spec containers 0 args)" "['backup', '/backup-source', '--source', 'home', '--json']"
expect "init Job is a hook" "$(field "$d" Job ci-backstream-init metadata annotations helm.sh/hook)" "pre-install,pre-upgrade"

step "autoscaler maxima are capped at the partitions"
base=(-f "$here/values/defaults.yaml")
render "${base[@]}" --set services.chunkWorker.autoscaling.maxReplicas=50 >"$work/cap.yaml"
expect "KEDA maxReplicaCount, maxReplicas 50, 8 partitions" "$(field "$work/cap.yaml" ScaledObject ci-backstream-chunk-worker spec maxReplicaCount)" "8"
render "${base[@]}" --set topics.partitions=3 >"$work/cap.yaml"
expect "KEDA maxReplicaCount, maxReplicas 8, 3 partitions" "$(field "$work/cap.yaml" ScaledObject ci-backstream-verifier spec maxReplicaCount)" "3"
render "${base[@]}" --set config.BACKSTREAM_TOPICS_PARTITIONS=2 >"$work/cap.yaml"
expect "KEDA maxReplicaCount, partitions from config" "$(field "$work/cap.yaml" ScaledObject ci-backstream-archiver spec maxReplicaCount)" "2"
render "${base[@]}" --set autoscaling.mode=hpa --set services.archiver.autoscaling.maxReplicas=50 >"$work/cap.yaml"
expect "HPA maxReplicas, maxReplicas 50, 8 partitions" "$(field "$work/cap.yaml" HorizontalPodAutoscaler ci-backstream-archiver spec maxReplicas)" "8"
render "${base[@]}" --set services.producer.enabled=true --set changes.topics=orders.cdc --set services.producer.partitions=5 >"$work/cap.yaml"
expect "producer maxReplicaCount, 5 change-topic partitions" "$(field "$work/cap.yaml" ScaledObject ci-backstream-producer spec maxReplicaCount)" "5"
expect "producer trigger topic (one change topic)" "$(field "$work/cap.yaml" ScaledObject ci-backstream-producer spec triggers 0 metadata topic)" "orders.cdc"

step "impossible or mistyped values are refused"
expect_refused "minReplicas above the partitions" "minReplicas (10) is above the most replicas that can get work" \
  "${base[@]}" --set services.verifier.autoscaling.minReplicas=10
expect_refused "producer autoscaled without its partitions" "services.producer: autoscaling needs services.producer.partitions" \
  "${base[@]}" --set services.producer.enabled=true --set changes.topics=orders.cdc
expect_refused "HPA below one replica" "minReplicas must be at least 1 with autoscaling.mode hpa" \
  "${base[@]}" --set autoscaling.mode=hpa --set services.verifier.autoscaling.minReplicas=0
expect_refused "terminationGracePeriodSeconds within preStop + grace period" "must exceed preStopSleepSeconds (5) + the grace period (20000 ms, 20 s)" \
  "${base[@]}" --set shutdown.terminationGracePeriodSeconds=25
expect_refused "unknown autoscaling.mode (values.schema.json)" "value must be one of 'keda', 'hpa', 'none'" \
  "${base[@]}" --set autoscaling.mode=kedaa
expect_refused "misspelled top-level value (values.schema.json)" "additional properties 'autoscalling' not allowed" \
  "${base[@]}" --set autoscalling.mode=none
expect_refused "a secret in config" "BACKSTREAM_S3_SECRET_ACCESS_KEY" \
  "${base[@]}" --set config.BACKSTREAM_S3_SECRET_ACCESS_KEY=oops
expect_refused "no brokers" "kafka.brokers is required" --set s3.bucket=b
expect_refused "archiver without a signing key" "the archiver signs the ledger" --set kafka.brokers=k:9092 --set s3.bucket=b
expect_refused "backup without a volume" "set exactly one of backup.persistentVolumeClaim and backup.hostPath" \
  "${base[@]}" --set backup.enabled=true --set backup.source=home

step "kubeconform refuses broken manifests (schemas: Kubernetes $oldest, KEDA $KEDA_VERSION)"
for manifest in "$here"/rejected/*.yaml; do
  name=$(basename "$manifest")
  wanted=$(sed -n '1s/^# expect: //p' "$manifest")
  [ -n "$wanted" ] || { fail "$name: its first line must be '# expect: <message>'"; continue; }
  if out=$("$kubeconform" -strict -summary -output text -kubernetes-version "$oldest" \
    -schema-location "$tools/schemas/k8s" \
    -schema-location "$tools/schemas/keda-$KEDA_VERSION/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$manifest" 2>&1); then
    fail "$name: accepted, should have been refused"
  elif grep -qF -- "$wanted" <<<"$out"; then
    pass "$name: refused ($wanted)"
  else
    fail "$name: refused, but not with '$wanted': $out"
  fi
done

elapsed=$(($(date +%s) - started))
if [ "$failures" -gt 0 ]; then
  printf '\n[chart-check] %d check(s) FAILED (%d s)\n' "$failures" "$elapsed" >&2
  exit 1
fi
printf '\n[chart-check] all checks passed (%d s)\n' "$elapsed"
