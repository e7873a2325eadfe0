#!/usr/bin/env bash
# Pipeline benchmark on the local stack: first backup of the ~1 GiB mixed dataset, a
# no-change re-backup, and a re-backup after changing ~1% of the files; reports MB/s,
# bytes produced to Kafka and objects stored per GiB. Several rounds, medians.
#   test/bench/pipeline.sh [--mib 1024] [--rounds 3]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mib=1024; rounds=3
while [ $# -gt 0 ]; do case $1 in --mib) mib=$2; shift 2;; --rounds) rounds=$2; shift 2;; *) echo "unknown $1" >&2; exit 2;; esac; done
work=${BENCH_DIR:-$repo/.bench}
mkdir -p "$work"
eval "$("$repo/infra/local/stack.sh" env)"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true BACKSTREAM_LOG_LEVEL=warn
cli="node $repo/bin/backstream.js"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

data=$work/dataset-$mib
[ -d "$data" ] || { echo "[bench] generating $mib MiB dataset in $data"; node "$repo/dist/test/bench/dataset.js" --out "$data" --mib "$mib"; }
results=$work/pipeline-results.jsonl
: > "$results"
for round in $(seq 1 "$rounds"); do
  run=bench$(date +%s)r$round
  export BACKSTREAM_S3_BUCKET=$run BACKSTREAM_KAFKA_TOPIC_PREFIX=$run.
  $cli init > /dev/null
  for s in chunk-worker verifier archiver; do $cli run $s 2> "$work/$s.log" & pids+=($!); done
  copy=$work/round-data
  rm -rf "$copy" && cp -a "$data" "$copy"
  for phase in first nochange change1; do
    [ $phase = change1 ] && node "$repo/dist/test/bench/dataset.js" --out "$copy" --mib "$mib" --change-percent 1 > /dev/null
    start=$(date +%s%N)
    summary=$($cli backup "$copy" --source bench --json | grep '"type":"summary"')
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    objects=$(node -e "
      const { S3Client, ListObjectsV2Command } = require('$repo/node_modules/@aws-sdk/client-s3');
      const s3 = new S3Client({ region: 'us-east-1', endpoint: process.env.BACKSTREAM_S3_ENDPOINT, forcePathStyle: true,
        credentials: { accessKeyId: process.env.BACKSTREAM_S3_ACCESS_KEY_ID, secretAccessKey: process.env.BACKSTREAM_S3_SECRET_ACCESS_KEY } });
      (async () => { let n = 0, bytes = 0, blocks = 0, t; do { const r = await s3.send(new ListObjectsV2Command({ Bucket: '$run', ContinuationToken: t }));
        for (const o of r.Contents ?? []) { n++; bytes += o.Size; if (o.Key.startsWith('blocks/')) blocks++; } t = r.NextContinuationToken; } while (t);
        console.log(JSON.stringify({ objects: n, blocks, storedBytes: bytes })); })();")
    echo "{\"round\":$round,\"phase\":\"$phase\",\"wallMs\":$ms,\"summary\":$summary,\"store\":$objects}" >> "$results"
    echo "[bench] round $round $phase: $ms ms"
  done
  cleanup; pids=()
done
node "$repo/dist/test/bench/pipeline-report.js" "$results"
