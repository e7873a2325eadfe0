import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { pseudoRandomBytes } from '../../libs/chunking/pseudo-random';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { EncryptedObjectStore, KEY_CHECK_OBJECT, RepositoryKeys, generateMasterKey } from '../../libs/crypto';
import { withTimeout } from '../../libs/errors';
import { fileEntries, joinFileParts, metadataDecoder, readManifest } from '../../libs/manifest';
import { S3ObjectStore, blockKey, createS3Client } from '../../libs/store';
import {
  backupSummary,
  killAll,
  runCli,
  spawnCli,
  startService,
  type CliResult,
  type ServiceProcess,
} from '../support/processes';
import { RepositoryProbe } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { comparable, describeTree, generateTree } from '../support/tree';

/**
 * Encryption at rest on the real stack: an encrypted repository backed up and restored end
 * to end, and the bucket read back through the raw S3 API: no plaintext, no content hash in
 * any name, a wrong, missing or malformed key refused with exit 2, a tampered block refused.
 */
const MARKER = 'BACKSTREAM-PLAINTEXT-MARKER-7f3a';
/** Part of a file name and of a directory name: paths must not show either. */
const NAME_MARKER = 'BSNAME-MARKER-c41d';
const SOURCE = 'enc-tree';
const SERVICES = ['chunk-worker', 'verifier', 'archiver'];
const SETTINGS = {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_TOPICS_PARTITIONS: '2',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '60000',
};

/** The encrypted repository's environment without its key; `env` adds the key (beforeAll). */
const baseEnv = testEnv('encryption', SETTINGS);
let masterKey: string;
let env: Record<string, string>;
/** An unencrypted repository of its own (bucket and topics), for init with a key on existing data. */
const plainEnv = testEnv('encryption-plain', SETTINGS);

const config: BackstreamConfig = loadConfig({ env: baseEnv }).config;
const s3: S3Client = createS3Client(config.s3);
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-encryption-'));
const tree = join(scratch, 'tree');
const markerFile = `docs/${NAME_MARKER}-notes.txt`;
const markerDirFile = `${NAME_MARKER}-dir/inner.txt`;
const markerSmallFile = `${NAME_MARKER}-dir/once.txt`;
let snapshotId: string;
const services: ServiceProcess[] = [];

/** Every object of a bucket as the S3 API shows it: name and bytes, nothing decrypted. */
async function rawObjects(bucket: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.set(o.Key as string, await rawGet(bucket, o.Key as string));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

async function rawGet(bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function rawPut(bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** The repository's keys, derived as any process would from the master key and keys/repository.json. */
async function encryptedStore(): Promise<EncryptedObjectStore> {
  const check = JSON.parse((await rawGet(config.s3.bucket, KEY_CHECK_OBJECT)).toString('utf8')) as {
    repositoryId: string;
  };
  const keys = RepositoryKeys.derive(Buffer.from(masterKey, 'base64'), Buffer.from(check.repositoryId, 'hex'));
  return new EncryptedObjectStore(new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix), keys);
}

/** The snapshot's files and their chunk hashes, read and decrypted through the project's libs. */
async function snapshotChunks(store: EncryptedObjectStore): Promise<Map<string, string[]>> {
  const record = (await probe.ledgerRecords()).find((r) => r.snapshotId === snapshotId)!;
  const decoder = metadataDecoder(config.chunking.maxSize);
  const manifest = await readManifest(store, decoder, record.manifest);
  const files = new Map<string, string[]>();
  for await (const f of joinFileParts(fileEntries(store, decoder, manifest))) {
    if (f.entry.kind === 'file')
      files.set(
        f.entry.path,
        f.chunks.map((c) => c.hash),
      );
  }
  return files;
}

/** Runs a command that must end by itself (a refused service included) within `ms`. */
async function runToExit(args: string[], runEnv: Record<string, string>, ms = 60_000): Promise<CliResult> {
  const p = spawnCli(args, runEnv);
  const exited = new Promise<CliResult>((resolveExit) =>
    p.proc.once('exit', (code, signal) => resolveExit({ code, signal, stdout: p.stdout(), stderr: p.stderr() })),
  );
  return await withTimeout(exited, ms, () => {
    p.proc.kill('SIGKILL');
    return new Error(`backstream ${args.join(' ')} did not exit within ${ms} ms:\n${p.stderr()}`);
  });
}

async function backup(root: string, source: string, runEnv: Record<string, string>): Promise<string> {
  const r = await runCli(['backup', root, '--source', source, '--json'], runEnv);
  if (r.code !== 0) {
    const logs = services.map((s) => `--- ${s.name}\n${s.output().split('\n').slice(-15).join('\n')}`);
    throw new Error(`backup exited ${r.code}:\n${r.stderr}\n${logs.join('\n')}`);
  }
  return backupSummary(r.stdout).snapshotId;
}

/** The marker text `lines` times, each line numbered so that the chunks differ. */
function markerText(lines: number, numbered: boolean): string {
  return Array.from({ length: lines }, (_, i) => (numbered ? `${i} ${MARKER}\n` : `${MARKER}\n`)).join('');
}

beforeAll(async () => {
  const generated = await runCli(['key', 'generate'], baseEnv);
  expect(generated.code).toBe(0);
  masterKey = generated.stdout.trim();
  expect(Buffer.from(masterKey, 'base64')).toHaveLength(32);
  env = { ...baseEnv, BACKSTREAM_ENCRYPTION_MASTER_KEY: masterKey };

  await generateTree(tree, { largeFileBytes: 3 * 1024 * 1024, smallFiles: 20, seed: 41 });
  await mkdir(join(tree, `${NAME_MARKER}-dir`));
  // The marker repeated: compresses to almost nothing, and a plaintext block would show it.
  await writeFile(join(tree, markerFile), markerText(40_000, false));
  await writeFile(join(tree, markerDirFile), markerText(20_000, true));
  // Smaller than a chunk: its one chunk's hash is the file's hash.
  await writeFile(join(tree, markerSmallFile), `${MARKER}\n`);
  await writeFile(join(tree, 'data', 'random.bin'), pseudoRandomBytes(1024 * 1024 + 7, 4141));
}, 60_000);

afterAll(async () => {
  await killAll();
  probe.close();
  s3.destroy();
  await rm(scratch, { recursive: true, force: true });
});

describe('an encrypted repository', () => {
  it('initialises with the master key, backs up through the pipeline and restores byte-identical', async () => {
    const init = await runCli(['init'], env);
    expect({ code: init.code, stderr: init.stderr }).toEqual({ code: 0, stderr: '' });
    expect(init.stdout).toContain('encryption: initialised with the master key');
    const check = JSON.parse((await rawGet(config.s3.bucket, KEY_CHECK_OBJECT)).toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(check).toMatchObject({ format: 'backstream-keys', version: 1, cipher: 'aes-256-gcm' });
    expect(JSON.stringify(check)).not.toContain(masterKey);
    // Again: idempotent, and the key is checked against the repository.
    const again = await runCli(['init'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('encryption: the master key matches');

    services.push(...(await Promise.all(SERVICES.map((s) => startService(s, env)))));
    snapshotId = await backup(tree, SOURCE, env);

    const listed = await runCli(['snapshots', '--source', SOURCE, '--json'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);
    const ls = await runCli(['ls', 'latest', '--source', SOURCE, `${NAME_MARKER}-dir`], env);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(markerDirFile);

    const target = join(scratch, 'restored');
    const r = await runCli(['restore', snapshotId, '--target', target, '--json'], env);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(tree)));
    expect(readFileSync(join(target, markerFile), 'utf8')).toBe(markerText(40_000, false));

    // The key from a file (a mounted secret) opens the same repository.
    const keyFile = join(scratch, 'master.key');
    await writeFile(keyFile, `${masterKey}\n`, { mode: 0o600 });
    const fromFile = await runCli(['snapshots', '--source', SOURCE, '--json'], {
      ...baseEnv,
      BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE: keyFile,
    });
    expect({ code: fromFile.code, stderr: fromFile.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fromFile.stdout).toContain(snapshotId);
  });

  it('keeps no plaintext at rest: no marker, no path and no content hash in any object, name or body', async () => {
    const objects = await rawObjects(config.s3.bucket);
    const facts = await describeTree(tree);
    const fileHashes = [...facts.values()].flatMap((f) => (f.sha256 ? [f.sha256] : []));
    const store = await encryptedStore();
    const chunks = await snapshotChunks(store);
    const chunkHashes = [...new Set([...chunks.values()].flat())];
    // Checked against the snapshot as restore reads it, so the hashes are the ones that were stored.
    expect(chunks.get(markerSmallFile)).toEqual([facts.get(markerSmallFile)?.sha256]);
    expect(chunks.get(markerFile)?.length).toBeGreaterThan(0);
    expect(chunkHashes.length).toBeGreaterThan(20);

    const marker = Buffer.from(MARKER);
    const nameMarker = Buffer.from(NAME_MARKER);
    const byPrefix = new Map<string, number>();
    for (const [key, body] of objects) {
      const prefix = key.slice(0, key.indexOf('/') + 1);
      byPrefix.set(prefix, (byPrefix.get(prefix) ?? 0) + 1);
      expect({ key, marker: body.includes(marker), nameMarker: body.includes(nameMarker) }).toEqual({
        key,
        marker: false,
        nameMarker: false,
      });
      expect(key).not.toContain(NAME_MARKER);
      const plaintext = key.startsWith('keys/') || key.startsWith('ledger/');
      for (const hash of [...fileHashes, ...chunkHashes]) {
        if (key.includes(hash)) throw new Error(`object ${key} is named by a content hash (${hash})`);
        // A plaintext object could confirm that a known file was backed up by holding its hash.
        if (plaintext && body.includes(hash)) throw new Error(`object ${key} holds a content hash (${hash})`);
      }
      // keys/ and ledger/ are plaintext by design; everything else is sealed, so a compressed
      // (zstd) block of the marker cannot show through either.
      if (plaintext) continue;
      expect({ key, magic: body.subarray(0, 3).toString('latin1') }).toEqual({ key, magic: 'BSE' });
    }
    expect([...byPrefix.keys()]).toEqual(expect.arrayContaining(['blocks/', 'filelists/', 'snapshots/', 'keys/']));
    // Every chunk is stored once, under its keyed name, and no other block is there.
    const blockNames = [...objects.keys()].filter((k) => k.startsWith('blocks/'));
    expect(blockNames.sort()).toEqual(chunkHashes.map((h) => store.storedKey(blockKey(h))).sort());
  });

  it('refuses a wrong, a missing and a malformed master key with exit 2, writing nothing', async () => {
    const wrong = { ...baseEnv, BACKSTREAM_ENCRYPTION_MASTER_KEY: generateMasterKey() };
    const before = [...(await rawObjects(config.s3.bucket)).keys()].filter((k) => !k.startsWith('ledger/'));
    const target = join(scratch, 'wrong-key-restore');
    const commands: string[][] = [
      ['snapshots', '--source', SOURCE],
      ['ls', 'latest', '--source', SOURCE],
      ['restore', 'latest', '--source', SOURCE, '--target', target],
      ['backup', tree, '--source', SOURCE],
      ['ledger', 'verify'],
      ['run', 'chunk-worker'],
    ];
    const results = await Promise.all(commands.map((args) => runToExit(args, wrong)));
    for (const [i, r] of results.entries()) {
      const command = commands[i]!.slice(0, 2).join(' ');
      expect({ command, code: r.code, matches: r.stderr.includes('master key does not match') }).toEqual({
        command,
        code: 2,
        matches: true,
      });
      expect(r.stderr).not.toContain(wrong.BACKSTREAM_ENCRYPTION_MASTER_KEY);
    }
    expect(existsSync(target)).toBe(false);
    const after = [...(await rawObjects(config.s3.bucket)).keys()].filter((k) => !k.startsWith('ledger/'));
    expect(after).toEqual(before);

    // No key at all: the repository says it is encrypted.
    const missing = await Promise.all(
      [['snapshots'], ['restore', 'latest', '--source', SOURCE, '--target', target], ['init']].map((args) =>
        runToExit(args, baseEnv),
      ),
    );
    for (const r of missing) {
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
      expect(r.stderr).toContain('the repository is encrypted');
      expect(r.stderr).toContain('encryption.masterKey');
    }
    expect(existsSync(target)).toBe(false);

    // Malformed keys: the setting is named, the text never shown (not even most of a real key).
    for (const bad of ['abc', masterKey.slice(0, -2), `${masterKey.slice(0, 40)}!!!!`]) {
      const badEnv = { ...baseEnv, BACKSTREAM_ENCRYPTION_MASTER_KEY: bad };
      const refused = await Promise.all([['snapshots'], ['init']].map((args) => runToExit(args, badEnv)));
      for (const r of refused) {
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('BACKSTREAM_ENCRYPTION_MASTER_KEY');
        expect(r.stderr).not.toContain(bad);
        if (bad.length > 16) expect(r.stderr).not.toContain(bad.slice(0, 16));
      }
    }
  });

  it('refuses a block with one byte flipped: restore exits 1 naming file and block, ledger verify --deep reports it', async () => {
    const store = await encryptedStore();
    const hash = (await snapshotChunks(store)).get(markerSmallFile)![0]!;
    const stored = store.storedKey(blockKey(hash));
    const good = await rawGet(config.s3.bucket, stored);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] = (bad[Math.floor(bad.length / 2)] as number) ^ 0x01;
    await rawPut(config.s3.bucket, stored, bad);
    try {
      const target = join(scratch, 'tampered');
      const r = await runCli(['restore', snapshotId, '--target', target, '--include', `${NAME_MARKER}-dir`], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(markerSmallFile);
      expect(r.stderr).toContain(blockKey(hash));
      expect(r.stderr).toContain('cannot be decrypted');
      expect(existsSync(join(target, markerSmallFile))).toBe(false);

      const verify = await runCli(['ledger', 'verify', '--deep', '--json'], env);
      // A finding, not a failure: exit 1 with the finding on stdout and nothing on stderr.
      expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 1, stderr: '' });
      const findings = verify.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string; kind?: string; message?: string })
        .filter((f) => f.type === 'finding');
      expect(findings.map((f) => ({ kind: f.kind, namesBlock: f.message?.includes(blockKey(hash)) }))).toEqual([
        { kind: 'block-corrupt', namesBlock: true },
      ]);
    } finally {
      await rawPut(config.s3.bucket, stored, good);
    }
    const healed = await runCli(['ledger', 'verify', '--deep', '--json'], env);
    expect({ code: healed.code, stderr: healed.stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('an unencrypted repository', () => {
  it('cannot be given a master key once it holds data', async () => {
    const init = await runCli(['init'], plainEnv);
    expect({ code: init.code, stderr: init.stderr }).toEqual({ code: 0, stderr: '' });
    expect(init.stdout).toContain('encryption: none');
    const small = join(scratch, 'plain-tree');
    await mkdir(small);
    await writeFile(join(small, 'a.txt'), 'plain data\n');
    const plainServices = await Promise.all(SERVICES.map((s) => startService(s, plainEnv)));
    services.push(...plainServices);
    const id = await backup(small, 'plain', plainEnv);
    await Promise.all(plainServices.map((s) => s.kill('SIGTERM')));

    const keyed = { ...plainEnv, BACKSTREAM_ENCRYPTION_MASTER_KEY: generateMasterKey() };
    const refused = await runCli(['init'], keyed);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('cannot encrypt a repository that already holds data');
    expect(refused.stderr).not.toContain(keyed.BACKSTREAM_ENCRYPTION_MASTER_KEY);
    const objects = await rawObjects(plainEnv.BACKSTREAM_S3_BUCKET!);
    expect([...objects.keys()].filter((k) => k.startsWith('keys/'))).toEqual([]);
    // The key is refused by readers too, and the repository still opens without it.
    const keyedRead = await runCli(['snapshots'], keyed);
    expect(keyedRead.code).toBe(2);
    expect(keyedRead.stderr).toContain('not encrypted');
    const plainRead = await runCli(['snapshots', '--json'], plainEnv);
    expect(plainRead.code).toBe(0);
    expect(plainRead.stdout).toContain(id);
  });
});
