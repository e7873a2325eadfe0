#!/usr/bin/env bash
# The main job end to end on the local stack (`make demo`): set up topics and bucket,
# start the chunk-worker, verifier and archiver, back up a generated sample tree (or
# DATA=path) with the producer (`backstream backup`), restore the committed snapshot into a
# new folder by ledger replay, and compare it with the original byte for byte, plus kinds,
# modes, symlink targets and mtimes. Exits non-zero if anything differs.
#   infra/local/demo.sh [DATA]        (the Makefile starts the stack first)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${DEMO_DIR:-$repo/.demo}
data=${1:-${DATA:-}}
eval "$("$repo/infra/local/stack.sh" env)"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cli=(node "$repo/bin/backstream.js")
say() { printf '\n\033[1m[demo] %s\033[0m\n' "$*"; }

pids=()
stop_services() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_services EXIT INT TERM

mkdir -p "$work/logs"
rm -rf "$work"/restore-*   # keep only the latest restore
if [ -z "$data" ]; then
  data=$work/sample
  if [ ! -d "$data" ]; then
    say "generating the sample tree in $data"
    node "$repo/dist/infra/local/demo-tree.js" --out "$data"
  fi
  source_name=demo-sample
else
  [ -d "$data" ] || { echo "[demo] DATA=$data is not a directory" >&2; exit 2; }
  data=$(cd "$data" && pwd)
  source_name=demo-$(basename "$data")
fi

say "creating topics and bucket (backstream init)"
"${cli[@]}" init

say "starting chunk-worker, verifier and archiver (logs in $work/logs)"
for s in chunk-worker verifier archiver; do
  BACKSTREAM_LOG_LEVEL=info "${cli[@]}" run "$s" > "$work/logs/$s.log" 2>&1 &
  pids+=($!)
done
deadline=$((SECONDS + 120))
for i in 0 1 2; do
  s=$(echo chunk-worker verifier archiver | cut -d' ' -f$((i + 1)))
  until grep -q 'service started' "$work/logs/$s.log"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "[demo] $s exited during start-up:" >&2; tail -20 "$work/logs/$s.log" >&2; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { echo "[demo] $s did not start in 120 s:" >&2; tail -20 "$work/logs/$s.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "  $s is running (pid ${pids[$i]})"
done

say "backing up $data as source $source_name (the producer: backstream backup)"
backup_start=$(date +%s%N)
"${cli[@]}" backup "$data" --source "$source_name"
backup_ms=$((($(date +%s%N) - backup_start) / 1000000))

say "stopping the services: restore needs only the ledger and object storage"
stop_services

snapshot=$("${cli[@]}" snapshots --source "$source_name" --json | tail -n 1 |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).snapshotId))')
target=$work/restore-$(date +%Y%m%d-%H%M%S)
say "restoring snapshot ${snapshot:0:8} into $target"
restore_start=$(date +%s%N)
"${cli[@]}" restore "$snapshot" --target "$target"
restore_ms=$((($(date +%s%N) - restore_start) / 1000000))

say "comparing $data with $target"
# Content: GNU diff, symlinks compared by target, not followed.
diff -r --no-dereference "$data" "$target" > "$work/diff.txt" 2>&1 && content=identical || content=DIFFERENT
# Metadata: kind, mode, size, symlink target and mtime (to the millisecond; symlink times skipped).
describe() {
  (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%s\t%l\t%T@\n' |
    awk -F'\t' -v OFS='\t' '{ if ($2 == "l") $6 = "-"; else $6 = sprintf("%.3f", int($6 * 1000) / 1000); if ($2 == "d") $4 = "-"; print }' |
    LC_ALL=C sort)
}
diff <(describe "$data") <(describe "$target") > "$work/metadata-diff.txt" && metadata=identical || metadata=DIFFERENT

entries=$(describe "$data" | wc -l)
bytes=$(du -sb --apparent-size "$data" | cut -f1)
mb() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f MB/s", (ms > 0 ? b / 1e6 / (ms / 1000) : 0) }'; }
say "report"
printf '  source       %s (%s entries, %s bytes)\n' "$data" "$entries" "$bytes"
printf '  snapshot     %s (source %s)\n' "$snapshot" "$source_name"
printf '  backup       %.1f s, %s (until committed to the ledger)\n' "$(awk -v m=$backup_ms 'BEGIN{print m/1000}')" "$(mb "$bytes" $backup_ms)"
printf '  restore      %.1f s, %s (every chunk and file hash verified)\n' "$(awk -v m=$restore_ms 'BEGIN{print m/1000}')" "$(mb "$bytes" $restore_ms)"
printf '  content      %s\n' "$content"
printf '  metadata     %s (kind, mode, size, symlink target, mtime)\n' "$metadata"
if [ "$content" != identical ] || [ "$metadata" != identical ]; then
  echo "[demo] the restore differs from the source; see $work/diff.txt and $work/metadata-diff.txt" >&2
  exit 1
fi
echo "  the restore is byte-identical. Explore with: eval \"\$(make -s env)\"; node bin/backstream.js snapshots"
