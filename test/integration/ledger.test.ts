import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { appendFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IHeaders, Message } from 'kafkajs';
import { createIdempotentProducer } from '../../libs/bus';
import { loadConfig } from '../../libs/config';
import { HEADERS, headerString, topicName } from '../../libs/events';
import { leafHash } from '../../libs/merkle';
import { blockKey, createS3Client } from '../../libs/store';
import {
  backupSummary,
  killAll,
  runCli,
  startService,
  type CliResult,
  type ServiceProcess,
} from '../support/processes';
import { RepositoryProbe, createKafka, waitFor } from '../support/repository';
import { TEST_SIGNING_KEY, testEnv } from '../support/stack-config';
import { comparable, describeTree, generateTree } from '../support/tree';
import { hasWitness, witness } from '../support/witness';

/**
 * The signed ledger on the real stack: `ledger verify` finds what someone with write access
 * to Kafka or to the bucket did (records altered, dropped, reordered or forged; blocks
 * flipped or deleted), `ledger prove` / `check-proof` hold offline with the public key only
 * and fail on any changed byte, and the store mirror alone lists, restores and rebuilds the
 * ledger after its topic is lost, so that the next commit continues the same chain.
 */
const env = testEnv('ledger', {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_TOPICS_PARTITIONS: '2',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '60000',
});
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-ledger-'));
const tree = join(scratch, 'tree');
const SOURCE = 'ledger-tree';
const PUBLIC_KEY = TEST_SIGNING_KEY.verifying.base64;
const services = new Map<string, ServiceProcess>();
/** The snapshot ids in commit order, and the tree as it was when each was taken. */
const snapshots: string[] = [];
const treeAt: Array<Array<[string, unknown]>> = [];
let s3: S3Client;

interface Finding {
  type: 'finding';
  kind: string;
  at: string;
  offset?: string;
  seq?: number;
  snapshotId?: string;
  objectKey?: string;
  blockHash?: string;
  usedBy?: string[];
  message: string;
}

interface Summary {
  type: 'summary';
  ok: boolean;
  findings: number;
  records: number;
  checkpoints: number;
  lastCheckpoint: { treeSize: number; root: string } | null;
  unsealed: number;
  source: string;
}

function jsonLines<T>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

async function backup(): Promise<string> {
  const result = await runCli(['backup', tree, '--source', SOURCE, '--json'], env);
  if (result.code !== 0) {
    const logs = [...services.values()].map((s) => `--- ${s.name}\n${s.output().split('\n').slice(-15).join('\n')}`);
    throw new Error(`backup exited ${result.code}:\n${result.stderr}\n${logs.join('\n')}`);
  }
  const id = backupSummary(result.stdout).snapshotId;
  snapshots.push(id);
  treeAt.push(comparable(await describeTree(tree)));
  return id;
}

async function startServices(): Promise<void> {
  for (const name of ['chunk-worker', 'verifier', 'archiver']) services.set(name, await startService(name, env));
}

/** `ledger verify --json [args]`: the findings, the summary and the exit code. */
async function verify(
  args: string[] = [],
  e: Record<string, string> = env,
): Promise<{ code: number | null; stderr: string; findings: Finding[]; summary: Summary }> {
  const r = await runCli(['ledger', 'verify', '--json', ...args], e);
  const lines = jsonLines<Finding | Summary>(r.stdout);
  const summary = lines.find((l): l is Summary => l.type === 'summary');
  if (!summary) throw new Error(`ledger verify printed no summary (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return {
    code: r.code,
    stderr: r.stderr,
    findings: lines.filter((l): l is Finding => l.type === 'finding'),
    summary,
  };
}

/** A ledger-topic message as read back, ready to be written again. */
interface LedgerMessage {
  key: Buffer | null;
  value: Buffer;
  headers: IHeaders;
}

const typeOf = (m: LedgerMessage): string | undefined => headerString(m.headers, HEADERS.type);

async function ledgerMessages(): Promise<LedgerMessage[]> {
  return (await probe.messages('ledger')).map(({ message }) => ({
    key: message.key,
    value: message.value as Buffer,
    headers: message.headers ?? {},
  }));
}

let copies = 0;

/**
 * Writes `messages` (key, value and headers as given) into the ledger topic of a new topic
 * prefix, at offsets 0, 1, 2…, and returns the environment that reads it: same bucket,
 * same key. This is what someone with write access to Kafka can do.
 */
async function copyLedger(messages: LedgerMessage[]): Promise<Record<string, string>> {
  copies += 1;
  const prefix = `${config.kafka.topicPrefix}copy${copies}.`;
  const copyEnv = { ...env, BACKSTREAM_KAFKA_TOPIC_PREFIX: prefix };
  const topic = `${prefix}ledger`;
  const admin = probe.kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  } finally {
    await admin.disconnect();
  }
  const producer = createIdempotentProducer(probe.kafka);
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: messages.map((m): Message => ({ key: m.key, value: m.value, headers: m.headers })),
    });
  } finally {
    await producer.disconnect();
  }
  return copyEnv;
}

/** The record messages of the real ledger by seq (records and checkpoints alternate, see the first test). */
function recordAt(messages: LedgerMessage[], seq: number): LedgerMessage {
  const found = messages.find(
    (m) => typeOf(m) === 'ledger-record' && (JSON.parse(m.value.toString()) as { seq: number }).seq === seq,
  );
  if (!found) throw new Error(`no record seq ${seq}`);
  return found;
}

/** Replaces the last digit of the first number after `"field":` with another digit: one byte changed. */
function bumpNumber(text: string, field: string): string {
  const match = new RegExp(`"${field}":(\\d+)`).exec(text);
  if (!match) throw new Error(`no ${field} in ${text}`);
  const end = match.index + match[0].length - 1;
  const digit = Number(text[end]);
  return `${text.slice(0, end)}${(digit + 1) % 10}${text.slice(end + 1)}`;
}

/** Changes one character of `text` at `i` to another of the same alphabet (hex or base64). */
function changeChar(text: string, i: number): string {
  const c = text[i] as string;
  const other = /[0-9a-f]/.test(c) ? (c === '0' ? '1' : '0') : c === 'A' ? 'B' : 'A';
  return `${text.slice(0, i)}${other}${text.slice(i + 1)}`;
}

/** Changes one hex digit of the value of `"field":"…"` in a JSON text. */
function changeHexField(text: string, field: string): string {
  const at = text.indexOf(`"${field}":"`);
  if (at < 0) throw new Error(`no ${field} in ${text}`);
  return changeChar(text, at + field.length + 4 + 5);
}

async function blockBytes(hash: string): Promise<Buffer> {
  const res = await s3.send(
    new GetObjectCommand({ Bucket: config.s3.bucket, Key: `${config.s3.prefix}${blockKey(hash)}` }),
  );
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function putBlock(hash: string, body: Buffer): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: config.s3.bucket, Key: `${config.s3.prefix}${blockKey(hash)}`, Body: body }),
  );
}

beforeAll(async () => {
  s3 = createS3Client(config.s3);
  expect((await runCli(['init'], env)).code).toBe(0);
  await generateTree(tree, { largeFileBytes: 1024 * 1024, smallFiles: 20, seed: 5 });
  await startServices();
  await backup();
  // Changes between the snapshots: a file changed, one added, one removed.
  await appendFile(join(tree, 'small', 'f0001.dat'), 'changed after the first snapshot\n');
  await writeFile(join(tree, 'docs', 'added.txt'), 'added after the first snapshot\n');
  await backup();
  await unlink(join(tree, 'small', 'f0002.dat'));
  await writeFile(join(tree, 'docs', 'added.txt'), 'rewritten after the second snapshot\n');
  await backup();
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  s3?.destroy();
  await rm(scratch, { recursive: true, force: true });
});

describe('the signed ledger', () => {
  let topicListing: Array<Record<string, unknown>>;

  it('verifies clean after three backups: every record signed, chained, checkpointed, and its data present', async () => {
    const messages = await ledgerMessages();
    // One seal per backup: the record, then the checkpoint that covers it.
    expect(messages.map(typeOf)).toEqual(
      Array.from({ length: 3 }, () => ['ledger-record', 'ledger-checkpoint']).flat(),
    );
    const v = await verify();
    expect({ code: v.code, findings: v.findings, stderr: v.stderr }).toEqual({ code: 0, findings: [], stderr: '' });
    expect(v.summary).toMatchObject({ ok: true, records: 3, checkpoints: 3, unsealed: 0 });
    expect(v.summary.lastCheckpoint?.treeSize).toBe(3);

    const deep = await runCli(['ledger', 'verify', '--deep'], env);
    expect({ code: deep.code, stderr: deep.stderr }).toEqual({ code: 0, stderr: '' });
    expect(deep.stdout).toMatch(/^OK: 3 records, 3 checkpoints/);

    const listed = await runCli(['snapshots', '--source', SOURCE, '--json'], env);
    expect(listed.code).toBe(0);
    topicListing = jsonLines<Record<string, unknown>>(listed.stdout);
    expect(topicListing.map((r) => r.snapshotId)).toEqual(snapshots);
  });

  describe('finds what was done to the ledger topic (a tampered copy of it, read with the same key)', () => {
    let original: LedgerMessage[];

    beforeAll(async () => {
      original = await ledgerMessages();
    });

    it('a faithful copy verifies clean (control)', async () => {
      const v = await verify([], await copyLedger(original));
      expect({ code: v.code, findings: v.findings }).toEqual({ code: 0, findings: [] });
      expect(v.summary).toMatchObject({ ok: true, records: 3, checkpoints: 3 });
    });

    it('one byte of a record altered: bad-signature at its offset', async () => {
      const r1 = recordAt(original, 1);
      const altered = Buffer.from(bumpNumber(r1.value.toString(), 'totalBytes'));
      expect(altered.length).toBe(r1.value.length);
      // Copy layout: r0@0 c1@1 r1@2 c2@3 r2@4 c3@5.
      const v = await verify([], await copyLedger(original.map((m) => (m === r1 ? { ...m, value: altered } : m))));
      expect(v.code).toBe(1);
      expect(v.summary.ok).toBe(false);
      expect(v.findings.map((f) => [f.kind, f.offset, f.seq])).toEqual([
        ['bad-signature', '2', 1],
        // The checkpoint of size 2 now covers a record the ledger does not hold.
        ['checkpoint-beyond-records', '3', undefined],
        ['missing', undefined, 1],
      ]);
      expect(v.findings[0]).toMatchObject({ at: 'offset 2', snapshotId: snapshots[1] });
      expect(v.findings[0]?.message).toMatch(/record seq 1 .* does not match its signature/);
    });

    it('a record dropped: missing names its seq, the next checkpoint covers records that are gone', async () => {
      const r1 = recordAt(original, 1);
      // Copy layout: r0@0 c1@1 c2@2 r2@3 c3@4.
      const v = await verify([], await copyLedger(original.filter((m) => m !== r1)));
      expect(v.code).toBe(1);
      expect(v.findings.map((f) => [f.kind, f.offset, f.seq])).toEqual([
        ['checkpoint-beyond-records', '2', undefined],
        ['missing', undefined, 1],
      ]);
      expect(v.findings[0]?.message).toMatch(/checkpoint of size 2 covers records up to seq 1/);
      expect(v.findings[1]?.message).toBe('record seq 1 missing (dropped) before offset 3');
      expect(v.summary.records).toBe(2);
    });

    it('two records swapped: out-of-order names the record that came late', async () => {
      const r1 = recordAt(original, 1);
      const r2 = recordAt(original, 2);
      // Copy layout: r0@0 c1@1 r2@2 c2@3 r1@4 c3@5.
      const v = await verify([], await copyLedger(original.map((m) => (m === r1 ? r2 : m === r2 ? r1 : m))));
      expect(v.code).toBe(1);
      expect(v.findings.map((f) => [f.kind, f.offset, f.seq])).toEqual([['out-of-order', '4', 1]]);
      expect(v.findings[0]).toMatchObject({ at: 'offset 4', snapshotId: snapshots[1] });
      expect(v.findings[0]?.message).toMatch(/record seq 1 .* comes after seq 2 \(offset 2\): reordered/);
    });

    it('records forged with kcat, unsigned or with a bogus signature: named at their offsets', async () => {
      if (!(await hasWitness('kcat'))) return;
      const copyEnv = await copyLedger(original);
      const r2 = recordAt(original, 2);
      const last = JSON.parse(r2.value.toString()) as { record: Record<string, unknown> };
      const forgedId = randomBytes(16).toString('hex');
      // A plausible next record: right seq, chained to the head, a copy of the last commit under a new id.
      const forged = JSON.stringify({
        seq: 3,
        prev: leafHash(r2.value).toString('hex'),
        type: 'snapshot-commit',
        record: { ...last.record, snapshotId: forgedId, committedAt: new Date().toISOString() },
      });
      const file = join(scratch, 'forged.jsonl');
      writeFileSync(file, `${forged}\n`);
      const topic = `${copyEnv.BACKSTREAM_KAFKA_TOPIC_PREFIX}ledger`;
      const kcat = (headers: string[]): Promise<string> =>
        witness('kcat', [
          '-P',
          '-b',
          config.kafka.brokers.join(','),
          '-t',
          topic,
          '-k',
          forgedId,
          '-H',
          `${HEADERS.type}=ledger-record`,
          '-H',
          `${HEADERS.version}=1`,
          ...headers,
          '-l',
          file,
        ]);
      await kcat([]);
      await kcat(['-H', `${HEADERS.signature}=${randomBytes(64).toString('base64')}`]);
      // The copy holds r0 c1 r1 c2 r2 c3 at 0…5: the forgeries are at offsets 6 and 7.
      const v = await verify([], copyEnv);
      expect(v.code).toBe(1);
      expect(v.findings.map((f) => [f.kind, f.offset, f.seq, f.snapshotId])).toEqual([
        ['unsigned', '6', 3, forgedId],
        ['bad-signature', '7', 3, forgedId],
      ]);
      expect(v.summary.records).toBe(3);
    });
  });

  describe('finds damage to the data through the S3 API', () => {
    /** A block two files share: chunk 0 of the large file and of its copy. */
    let hash: string;
    let originalBytes: Buffer;
    const users = ['data/deep/deeper/copy-of-large.bin', 'data/large.bin'];

    beforeAll(async () => {
      const record = (await probe.ledgerRecords()).find((r) => r.snapshotId === snapshots[2])!;
      const files = await probe.snapshotFiles(record);
      hash = files.get('data/large.bin')!.chunks[0]!.hash;
      expect(files.get('data/deep/deeper/copy-of-large.bin')!.chunks[0]!.hash).toBe(hash);
      originalBytes = await blockBytes(hash);
    });

    afterAll(async () => {
      if (originalBytes) await putBlock(hash, originalBytes);
    });

    it('a flipped byte in a block: unseen without --deep, block-corrupt naming the block and its files with it', async () => {
      const flipped = Buffer.from(originalBytes);
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0x01;
      await putBlock(hash, flipped);

      const shallow = await verify();
      expect({ code: shallow.code, findings: shallow.findings }).toEqual({ code: 0, findings: [] });

      const deep = await verify(['--deep']);
      expect(deep.code).toBe(1);
      // Reported once per snapshot that uses it (the file never changed), naming both files.
      expect(deep.findings.map((f) => [f.kind, f.snapshotId])).toEqual(snapshots.map((id) => ['block-corrupt', id]));
      for (const f of deep.findings) {
        expect(f).toMatchObject({ blockHash: hash, objectKey: blockKey(hash) });
        expect([...(f.usedBy ?? [])].sort()).toEqual(users);
        expect(f.message).toContain(blockKey(hash));
      }
    });

    it('a deleted block: block-missing, without --deep too; the original bytes put back verify clean', async () => {
      await s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: `${config.s3.prefix}${blockKey(hash)}` }));
      const v = await verify();
      expect(v.code).toBe(1);
      expect(v.findings.map((f) => [f.kind, f.snapshotId, f.blockHash])).toEqual(
        snapshots.map((id) => ['block-missing', id, hash]),
      );
      for (const f of v.findings) expect([...(f.usedBy ?? [])].sort()).toEqual(users);
      expect(v.findings[0]?.message).toMatch(new RegExp(`block ${blockKey(hash)} is missing; used by 2 files`));

      await putBlock(hash, originalBytes);
      const again = await verify(['--deep']);
      expect({ code: again.code, findings: again.findings }).toEqual({ code: 0, findings: [] });
    });
  });

  describe('proofs, checked offline with the public key only', () => {
    const proofs: Record<string, Record<string, unknown>> = {};

    async function prove(name: string, args: string[]): Promise<void> {
      const r = await runCli(['ledger', 'prove', ...args], env);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      proofs[name] = JSON.parse(r.stdout) as Record<string, unknown>;
    }

    /** `ledger check-proof` of a proof object, as an auditor: no repository settings, the public key only. */
    async function checkProof(proof: unknown, how: 'flag' | 'env' = 'flag', key = PUBLIC_KEY): Promise<CliResult> {
      const file = join(scratch, `proof-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(file, JSON.stringify(proof));
      return how === 'flag'
        ? runCli(['ledger', 'check-proof', file, '--json', '--public-key', key], {})
        : runCli(['ledger', 'check-proof', file, '--json'], { BACKSTREAM_LEDGER_PUBLIC_KEY: key });
    }

    beforeAll(async () => {
      await prove('snapshot', [snapshots[1]!]);
      await prove('file', [`small/f0001.dat@${snapshots[1]!.slice(0, 8)}`]);
      await prove('consistency', ['--consistency', '1']);
    });

    it('a snapshot, a file of it, and a consistency proof check out, with --public-key and with ledger.publicKey', async () => {
      for (const how of ['flag', 'env'] as const) {
        const snapshot = await checkProof(proofs.snapshot, how);
        expect({ code: snapshot.code, stderr: snapshot.stderr }).toEqual({ code: 0, stderr: '' });
        expect(JSON.parse(snapshot.stdout)).toMatchObject({
          ok: true,
          type: 'inclusion',
          checkpoint: { treeSize: 3 },
          record: { seq: 1, record: { snapshotId: snapshots[1] } },
        });

        const file = await checkProof(proofs.file, how);
        expect({ code: file.code, stderr: file.stderr }).toEqual({ code: 0, stderr: '' });
        const fileClaims = JSON.parse(file.stdout) as { entry: Array<{ path: string; contentHash: string }> };
        expect(fileClaims).toMatchObject({ ok: true, record: { seq: 1, record: { snapshotId: snapshots[1] } } });
        expect(fileClaims.entry.map((e) => e.path)).toEqual(['small/f0001.dat']);
        const facts = new Map(treeAt[1]).get('small/f0001.dat') as { sha256: string };
        expect(fileClaims.entry[0]?.contentHash).toBe(facts.sha256);

        const consistency = await checkProof(proofs.consistency, how);
        expect({ code: consistency.code, stderr: consistency.stderr }).toEqual({ code: 0, stderr: '' });
        expect(JSON.parse(consistency.stdout)).toMatchObject({
          ok: true,
          type: 'consistency',
          oldCheckpoint: { treeSize: 1 },
          checkpoint: { treeSize: 3 },
        });
      }
    });

    type Proof = Record<string, unknown> & {
      path: string[];
      checkpoint: { value: string; signature: string };
      record: { value: string; signature: string };
      leafIndex: number;
      manifest: string;
      segment: string;
      entry: string[];
      old: { value: string; signature: string };
      new: { value: string; signature: string };
    };
    const cases: Array<[string, string, (p: Proof) => void, RegExp]> = [
      [
        'snapshot',
        'a path element',
        (p) => (p.path[0] = changeChar(p.path[0]!, 17)),
        /not proven to be leaf 1 of the tree of size 3/,
      ],
      [
        'snapshot',
        'the checkpoint value',
        (p) => (p.checkpoint.value = changeHexField(p.checkpoint.value, 'root')),
        /the proof checkpoint's signature does not verify/,
      ],
      [
        'snapshot',
        'the checkpoint signature',
        (p) => (p.checkpoint.signature = changeChar(p.checkpoint.signature, 20)),
        /the proof checkpoint's signature does not verify/,
      ],
      [
        'snapshot',
        'the record value',
        (p) => (p.record.value = bumpNumber(p.record.value, 'totalBytes')),
        /the record's signature does not verify/,
      ],
      [
        'snapshot',
        'the record signature',
        (p) => (p.record.signature = changeChar(p.record.signature, 20)),
        /the record's signature does not verify/,
      ],
      ['snapshot', 'the leafIndex', (p) => (p.leafIndex += 1), /the record has seq 1, the proof says leaf 2/],
      [
        'file',
        'a path element',
        (p) => (p.path[p.path.length - 1] = changeChar(p.path[p.path.length - 1]!, 0)),
        /not proven to be leaf 1/,
      ],
      [
        'file',
        'the record value',
        (p) => (p.record.value = changeHexField(p.record.value, 'sha256')),
        /the record's signature does not verify/,
      ],
      [
        'file',
        'the manifest',
        (p) => (p.manifest = changeHexField(p.manifest, 'sha256')),
        /the manifest's SHA-256 is not the one the record commits to/,
      ],
      [
        'file',
        'the segment',
        (p) => (p.segment = changeHexField(p.segment, 'contentHash')),
        /segment 0 is not the one the manifest commits to/,
      ],
      [
        'file',
        'the entry line',
        (p) => (p.entry[0] = changeHexField(p.entry[0]!, 'contentHash')),
        /an entry line is not in the segment/,
      ],
      ['file', 'the leafIndex', (p) => (p.leafIndex = 0), /the record has seq 1, the proof says leaf 0/],
      [
        'consistency',
        'a path element',
        (p) => (p.path[1] = changeChar(p.path[1]!, 40)),
        /the tree of size 3 is not proven to extend the tree of size 1/,
      ],
      [
        'consistency',
        'the old checkpoint value',
        (p) => (p.old.value = changeHexField(p.old.value, 'root')),
        /the old checkpoint's signature does not verify/,
      ],
      [
        'consistency',
        'the new checkpoint value',
        (p) => (p.new.value = bumpNumber(p.new.value, 'treeSize')),
        /the new checkpoint's signature does not verify/,
      ],
      [
        'consistency',
        'the new checkpoint signature',
        (p) => (p.new.signature = changeChar(p.new.signature, 5)),
        /the new checkpoint's signature does not verify/,
      ],
    ];

    it.each(cases)(
      'a %s proof with one byte of %s changed fails, saying what',
      async (name, _what, change, expected) => {
        const proof = structuredClone(proofs[name]) as Proof;
        const before = JSON.stringify(proof);
        change(proof);
        // Exactly one character differs.
        const after = JSON.stringify(proof);
        expect(after.length).toBe(before.length);
        expect([...after].filter((c, i) => c !== before[i])).toHaveLength(1);
        const r = await checkProof(proof);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(expected);
      },
    );

    it('fails with another public key (from ledger keygen)', async () => {
      const keygen = await runCli(['ledger', 'keygen', '--json'], {});
      expect(keygen.code).toBe(0);
      const other = JSON.parse(keygen.stdout) as { publicKey: string; keyId: string; signingKey: string };
      expect(other.publicKey).not.toBe(PUBLIC_KEY);
      for (const name of ['snapshot', 'file', 'consistency']) {
        for (const how of ['flag', 'env'] as const) {
          const r = await checkProof(proofs[name], how, other.publicKey);
          expect(r.code).toBe(1);
          expect(r.stderr).toMatch(new RegExp(`checkpoint's signature does not verify with key ${other.keyId}`));
        }
      }
    });
  });

  it('recovers without the ledger topic: lists, restores and verifies from the store mirror, rebuilds the topic, and the chain goes on', async () => {
    await Promise.all([...services.values()].map((s) => s.kill('SIGTERM')));
    services.clear();
    const ledgerTopic = topicName(config, 'ledger');
    const admin = createKafka(config.kafka, { clientSuffix: 'test-admin' }).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [ledgerTopic] });
      await waitFor('the ledger topic to be deleted', async () => !(await admin.listTopics()).includes(ledgerTopic));
    } finally {
      await admin.disconnect();
    }
    const listed = await runCli(['snapshots', '--source', SOURCE, '--from-store', '--json'], env);
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
    const fromStore = jsonLines<Record<string, unknown>>(listed.stdout);
    const withoutOffset = (r: Record<string, unknown>): Record<string, unknown> => {
      const { ledgerOffset: _offset, ...rest } = r;
      return rest;
    };
    expect(fromStore.map(withoutOffset)).toEqual(topicListing.map(withoutOffset));

    for (const i of [0, 2]) {
      const target = join(scratch, `from-store-${i}`);
      const r = await runCli(['restore', snapshots[i]!, '--from-store', '--target', target, '--json'], env);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(comparable(await describeTree(target))).toEqual(treeAt[i]);
    }

    const fromStoreVerify = await verify(['--from-store']);
    expect({ code: fromStoreVerify.code, findings: fromStoreVerify.findings }).toEqual({ code: 0, findings: [] });
    expect(fromStoreVerify.summary).toMatchObject({ ok: true, records: 3, checkpoints: 3 });

    // The topic back, empty, then filled from the mirror byte for byte.
    expect((await runCli(['topics', 'ensure'], env)).code).toBe(0);
    const rebuild = await runCli(['ledger', 'rebuild', '--json'], env);
    // (Its stderr holds two kafkajs warnings about the transactional producer's options: not asserted empty.)
    expect({ code: rebuild.code, stderr: rebuild.code === 0 ? '' : rebuild.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(rebuild.stdout)).toMatchObject({ topic: ledgerTopic, records: 3, checkpoints: 3 });
    const rebuilt = await verify();
    expect({ code: rebuilt.code, findings: rebuilt.findings }).toEqual({ code: 0, findings: [] });
    expect(rebuilt.summary).toMatchObject({ ok: true, records: 3, checkpoints: 3 });

    const target = join(scratch, 'after-rebuild');
    const restored = await runCli(['restore', 'latest', '--source', SOURCE, '--target', target, '--json'], env);
    expect({ code: restored.code, stderr: restored.stderr }).toEqual({ code: 0, stderr: '' });
    expect(comparable(await describeTree(target))).toEqual(treeAt[2]);

    // The pipeline again: the next commit continues the rebuilt chain.
    await startServices();
    await writeFile(join(tree, 'docs', 'after-rebuild.txt'), 'written after the ledger was rebuilt\n');
    const next = await backup();
    const after = await verify();
    expect({ code: after.code, findings: after.findings }).toEqual({ code: 0, findings: [] });
    expect(after.summary).toMatchObject({ ok: true, records: 4, unsealed: 0 });
    expect(after.summary.lastCheckpoint?.treeSize).toBe(4);
    const record = (await ledgerMessages()).find((m) => typeOf(m) === 'ledger-record' && m.key?.toString() === next);
    expect(JSON.parse(record!.value.toString())).toMatchObject({ seq: 3, record: { snapshotId: next } });
    expect((await verify(['--from-store'])).summary).toMatchObject({ ok: true, records: 4 });
  });
});
