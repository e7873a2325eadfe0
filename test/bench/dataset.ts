/**
 * Writes the deterministic benchmark dataset: the same bytes on every machine and run.
 *   node dist/test/bench/dataset.js --out DIR [--mib 1024] [--change-percent 0]
 * Mix (by share of --mib): 50% large incompressible files, 25% compressible text, 10% small
 * files (thousands, 1–40 KiB), 15% an exact copy of one large file (duplicated content).
 * --change-percent N rewrites N% of the small files and appends to one text file, to measure
 * an incremental backup after a small change.
 */
import { createCipheriv } from 'node:crypto';
import { mkdirSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

/** Incompressible, deterministic bytes: AES-128-CTR keystream of a seed. */
function random(bytes: number, seed: number): Buffer {
  const key = Buffer.alloc(16, seed & 0xff);
  key.writeUInt32LE(seed >>> 0, 0);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

const WORDS = 'backup restore snapshot ledger kafka chunk block verify archive manifest offset partition replica'.split(
  ' ',
);
function text(bytes: number, seed: number): Buffer {
  const r = random(Math.ceil(bytes / 4), seed);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const w = `${WORDS[(r[i % r.length] as number) % WORDS.length]}${i % 17 === 0 ? '\n' : ' '}`;
    parts.push(w);
    size += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

const MiB = 1024 * 1024;
const out = arg('out', '');
if (!out) {
  process.stderr.write('usage: dataset --out DIR [--mib 1024] [--change-percent N]\n');
  process.exit(2);
}
const total = Number(arg('mib', '1024')) * MiB;
const changePercent = Number(arg('change-percent', '0'));
const largeCount = 4;
const largeSize = Math.floor((total * 0.5) / largeCount);
const textCount = 8;
const textSize = Math.floor((total * 0.25) / textCount);
const smallBudget = total * 0.1;

if (changePercent === 0 || !existsSync(out)) {
  mkdirSync(join(out, 'large'), { recursive: true });
  mkdirSync(join(out, 'text'), { recursive: true });
  mkdirSync(join(out, 'dup'), { recursive: true });
  for (let i = 0; i < largeCount; i++) writeFileSync(join(out, 'large', `blob-${i}.bin`), random(largeSize, 1000 + i));
  writeFileSync(join(out, 'dup', 'copy-of-blob-0.bin'), random(Math.floor(total * 0.15), 1000));
  for (let i = 0; i < textCount; i++) writeFileSync(join(out, 'text', `log-${i}.txt`), text(textSize, 2000 + i));
  let used = 0;
  for (let i = 0; used < smallBudget; i++) {
    const dir = join(out, 'small', `d${String(i % 50).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    const size = 1024 + ((i * 7919) % (40 * 1024));
    writeFileSync(join(dir, `f${i}.dat`), random(size, 3000 + i));
    used += size;
  }
}
if (changePercent > 0) {
  // Rewrite every (100/N)th small file and append to one text file.
  const step = Math.max(1, Math.round(100 / changePercent));
  let changed = 0;
  for (let i = 0; ; i += step) {
    const file = join(out, 'small', `d${String(i % 50).padStart(2, '0')}`, `f${i}.dat`);
    if (!existsSync(file)) break;
    writeFileSync(file, random(1024 + ((i * 7919) % (40 * 1024)), 9000 + i + changePercent));
    changed++;
  }
  appendFileSync(join(out, 'text', 'log-0.txt'), text(64 * 1024, 4242 + changePercent));
  process.stdout.write(`changed ${changed} small files and appended to text/log-0.txt\n`);
}
