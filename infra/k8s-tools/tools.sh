#!/usr/bin/env bash
# Installs the pinned tools and schemas of `make chart-check` into .tools/ (git-ignored), each
# only when missing or of another version, so a second run takes seconds:
#   .tools/bin/helm, .tools/bin/kubeconform        built with `go install` from the Go module proxy
#   .tools/venv                                    PyYAML, for kubeconform's openapi2jsonschema.py
#   .tools/schemas/k8s/vX.Y.Z-standalone-strict/   Kubernetes JSON schemas (k8s_json_schemas.py)
#   .tools/schemas/keda-vX.Y.Z/                    KEDA ScaledObject and TriggerAuthentication
# Every Go module is checked against the h1: hash pinned in versions.env. Needs Go and python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=infra/k8s-tools/versions.env
source "$here/versions.env"
tools=${BACKSTREAM_TOOLS_DIR:-$repo/.tools}

log() { printf '[k8s-tools] %s\n' "$*" >&2; }
die() { printf '[k8s-tools] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is required to build helm and kubeconform (go.dev/dl); not found"
command -v python3 >/dev/null || die "python3 is required to convert the schemas; not found"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Outside any module, and never one of the developer's go.work files.
export GOWORK=off

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

# Downloads MODULE@VERSION into the module cache (Go checks it against sum.golang.org), checks
# its hash against the pinned one and prints the folder it was extracted to.
module_dir() {
  local module=$1 version=$2 want=$3 json got
  json=$(cd "$scratch" && go mod download -json "$module@$version") \
    || die "go mod download $module@$version failed: $json"
  got=$(printf '%s' "$json" | json_field Sum)
  [ "$got" = "$want" ] || die "$module@$version has hash '$got', versions.env pins '$want': refusing it"
  printf '%s' "$json" | json_field Dir
}

# `go version -m` records the main module's version and hash in the binary itself.
installed_module() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2 "@" $3 " " $4 }'; }

install_go_tool() {
  local name=$1 module=$2 version=$3 sum=$4 package=$5 target=$tools/bin/$1
  if [ -x "$target" ] && [ "$(installed_module "$target")" = "$module@$version $sum" ]; then
    return 0
  fi
  log "building $name $version from the Go module proxy (the first time takes a few minutes)"
  module_dir "$module" "$version" "$sum" >/dev/null
  mkdir -p "$tools/bin"
  # Static binaries: no C toolchain needed, and the result does not depend on one.
  (cd "$scratch" && CGO_ENABLED=0 GOBIN="$tools/bin" go install "$package@$version") || die "go install $package@$version failed"
  [ "$(installed_module "$target")" = "$module@$version $sum" ] || die "$target does not report $module@$version $sum"
}

install_pyyaml() {
  local py=$tools/venv/bin/python
  if [ -x "$py" ] && "$py" -c "import sys, yaml; sys.exit(yaml.__version__ != '$PYYAML_VERSION')" 2>/dev/null; then
    return 0
  fi
  log "installing PyYAML $PYYAML_VERSION into $tools/venv"
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "PyYAML==$PYYAML_VERSION" \
    || die "pip install PyYAML==$PYYAML_VERSION failed"
}

# A folder of generated schemas is current when its stamp names the same inputs.
current() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }

k8s_schemas() {
  local versions sums i version sum out stamp dir
  read -r -a versions <<<"$KUBERNETES_VERSIONS"
  read -r -a sums <<<"$KUBERNETES_SUMS"
  [ "${#versions[@]}" = "${#sums[@]}" ] || die "versions.env: KUBERNETES_VERSIONS and KUBERNETES_SUMS differ in length"
  for i in "${!versions[@]}"; do
    version=${versions[$i]} sum=${sums[$i]}
    out=$tools/schemas/k8s/$version-standalone-strict
    stamp="$KUBERNETES_MODULE@$version $sum $(sha256sum "$here/k8s_json_schemas.py" | cut -d' ' -f1)"
    current "$out" "$stamp" && continue
    log "generating Kubernetes $version schemas"
    dir=$(module_dir "$KUBERNETES_MODULE" "$version" "$sum")
    rm -rf "$out" "$out.tmp"
    python3 "$here/k8s_json_schemas.py" "$dir/api/openapi-spec/swagger.json" "$out.tmp" >&2
    printf '%s' "$stamp" >"$out.tmp/.stamp"
    mv "$out.tmp" "$out"
  done
}

keda_schemas() {
  local out=$tools/schemas/keda-$KEDA_VERSION stamp keda kc
  stamp="$KEDA_MODULE@$KEDA_VERSION $KEDA_SUM $KUBECONFORM_SUM PyYAML==$PYYAML_VERSION"
  current "$out" "$stamp" && return 0
  log "generating KEDA $KEDA_VERSION schemas"
  keda=$(module_dir "$KEDA_MODULE" "$KEDA_VERSION" "$KEDA_SUM")
  kc=$(module_dir "$KUBECONFORM_MODULE" "$KUBECONFORM_VERSION" "$KUBECONFORM_SUM")
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp"
  # The script writes into the current folder. File names follow kubeconform's KindSuffix
  # (scaledobject-keda-v1alpha1.json); the root object is closed too (DENY_ROOT_…), so a
  # misspelled top-level field is an error as in the Kubernetes schemas.
  (cd "$out.tmp" && FILENAME_FORMAT='{kind}-{group}-{version}' DENY_ROOT_ADDITIONAL_PROPERTIES=1 \
    "$tools/venv/bin/python" "$kc/scripts/openapi2jsonschema.py" \
    "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
    "$keda/config/crd/bases/keda.sh_triggerauthentications.yaml" >&2)
  for f in scaledobject-keda-v1alpha1.json triggerauthentication-keda-v1alpha1.json; do
    [ -s "$out.tmp/$f" ] || die "KEDA schema $f was not generated"
  done
  printf '%s' "$stamp" >"$out.tmp/.stamp"
  mv "$out.tmp" "$out"
}

# Schemas of versions no longer pinned would only take space.
prune_schemas() {
  local keep=() dir v
  for v in $KUBERNETES_VERSIONS; do keep+=("$tools/schemas/k8s/$v-standalone-strict"); done
  keep+=("$tools/schemas/keda-$KEDA_VERSION")
  for dir in "$tools"/schemas/k8s/* "$tools"/schemas/keda-*; do
    [ -e "$dir" ] || continue
    [[ " ${keep[*]} " == *" $dir "* ]] || rm -rf "$dir"
  done
}

install_go_tool helm "$HELM_MODULE" "$HELM_VERSION" "$HELM_SUM" "$HELM_MODULE/cmd/helm"
install_go_tool kubeconform "$KUBECONFORM_MODULE" "$KUBECONFORM_VERSION" "$KUBECONFORM_SUM" "$KUBECONFORM_MODULE/cmd/kubeconform"
install_pyyaml
k8s_schemas
keda_schemas
prune_schemas
