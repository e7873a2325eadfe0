import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  LedgerChainVerifier,
  RepositoryDataChecker,
  checkProof,
  consistencyProof,
  inclusionProof,
  type DataFinding,
  type LedgerFinding,
} from '../../../libs/audit';
import type { BackstreamConfig } from '../../../libs/config';
import { generateMasterKey } from '../../../libs/crypto';
import { BackstreamError, ConfigError } from '../../../libs/errors';
import { consumerGroupId, topicName } from '../../../libs/events';
import {
  LedgerSigningKey,
  LedgerVerifyingKey,
  StoreLedgerSource,
  ledgerMessage,
  loadVerifyingKey,
  type SealedCheckpoint,
  type LedgerSource,
  type SealedRecord,
} from '../../../libs/ledger';
import {
  metadataDecoder,
  readContentObject,
  snapshotManifestSchema,
  changeBatchManifestSchema,
} from '../../../libs/manifest';
import { MerkleTree } from '../../../libs/merkle';
import { openReaderContext, type ReaderContext } from '../../../libs/runtime';
import { loadCommandConfig, printJson } from '../context';
import { terminalSafe } from '../../../libs/text';

const FROM_STORE = 'read the ledger from its mirror in the store (when the ledger topic is gone)';

/** The public key: --public-key (a file or the key itself), else ledger.publicKey(File), else the signing key's. */
function verifyingKey(config: BackstreamConfig, option: string | undefined): LedgerVerifyingKey {
  if (option !== undefined) {
    let text = option;
    try {
      text = readFileSync(option, 'utf8');
    } catch {
      // Not a file: the key itself.
    }
    return LedgerVerifyingKey.parse(text, '--public-key');
  }
  const key = loadVerifyingKey(config.ledger);
  if (!key) {
    throw new ConfigError('no ledger public key: pass --public-key or set ledger.publicKey / ledger.publicKeyFile');
  }
  return key;
}

/**
 * Reads a ledger through the verifier and hands over, in ledger order, each record the
 * verifier accepted and each checkpoint the key signed. Returns the verifier (findings, leaves).
 */
async function readVerified(
  source: LedgerSource,
  key: LedgerVerifyingKey,
  onSigned: (sealed: SealedRecord | SealedCheckpoint) => void,
): Promise<LedgerChainVerifier> {
  const verifier = new LedgerChainVerifier(key);
  await source.read((item) => {
    const accepted = verifier.add(item);
    if (item.kind === 'record' && accepted) {
      onSigned({ chained: item.chained, value: item.value, signature: item.signature ?? '' });
    }
    if (item.kind === 'checkpoint' && key.verify(item.value, item.signature)) {
      onSigned({ checkpoint: item.checkpoint, value: item.value, signature: item.signature ?? '' });
    }
  });
  return verifier;
}

function verifyCommand(): Command {
  return new Command('verify')
    .description(
      'check the ledger: signatures, hash chain, Merkle checkpoints, and that every manifest and block it references exists (--deep: re-hash the data); exit 1 on any finding',
    )
    .option('--deep', 'read every block back and check its hash (and whole-file hashes)')
    .option('--from-store', FROM_STORE)
    .option('--public-key <key|file>', 'Ed25519 public key to check signatures with (default: ledger.publicKey)')
    .option('--json', 'one JSON line per finding, then a summary line')
    .action(async function (
      this: Command,
      opts: { deep?: boolean; fromStore?: boolean; publicKey?: string; json?: boolean },
    ) {
      const { config } = loadCommandConfig(this);
      const key = verifyingKey(config, opts.publicKey);
      const ctx = await openReaderContext(config, { fromStore: opts.fromStore, unfiltered: true });
      const started = Date.now();
      try {
        const verifier = new LedgerChainVerifier(key);
        const decoder = metadataDecoder(config.chunking.maxSize);
        const checker = new RepositoryDataChecker({
          store: ctx.store,
          decoder,
          // Blocks cut under an earlier, larger chunking.maxSize must still pass: same cap as restore.
          blockDecoder: decoder,
          deep: opts.deep === true,
          concurrency: config.store.concurrency,
        });
        const findings: Array<LedgerFinding | DataFinding> = [];
        const report = (f: LedgerFinding | DataFinding): void => {
          findings.push(f);
          if (opts.json) printJson({ type: 'finding', ...f });
          else process.stdout.write(`FINDING ${f.kind}: ${terminalSafe(f.message)}\n`);
        };
        let reported = 0;
        await ctx.ledger.read(async (item) => {
          const accepted = verifier.add(item);
          for (; reported < verifier.findings.length; reported++) report(verifier.findings[reported] as LedgerFinding);
          if (!accepted) return;
          const data =
            accepted.item.type === 'snapshot-commit'
              ? await checker.checkSnapshot(accepted.seq, accepted.offset, accepted.item.record)
              : await checker.checkChangeBatch(accepted.seq, accepted.offset, accepted.item.record);
          for (const f of data) report(f);
        });
        const summary = verifier.finish();
        for (; reported < verifier.findings.length; reported++) report(verifier.findings[reported] as LedgerFinding);
        const seconds = (Date.now() - started) / 1000;
        const stats = checker.stats;
        const result = {
          type: 'summary',
          source: ctx.ledger.description,
          keyId: key.keyId,
          ok: findings.length === 0,
          findings: findings.length,
          records: summary.records,
          checkpoints: summary.checkpoints,
          lastCheckpoint: summary.lastCheckpoint ?? null,
          unsealed: summary.unsealed,
          files: stats.files,
          versions: stats.versions,
          blocks: stats.blocks,
          blocksRead: stats.blocksRead,
          bytesRead: stats.bytesRead,
          deep: opts.deep === true,
          seconds,
          recordsPerSecond: summary.records / Math.max(seconds, 0.001),
          mbPerSecond: stats.bytesRead / 1e6 / Math.max(seconds, 0.001),
        };
        if (opts.json) printJson(result);
        else {
          const cp = summary.lastCheckpoint;
          process.stdout.write(
            `${findings.length === 0 ? 'OK' : `${findings.length} FINDING(S)`}: ${summary.records} records, ${summary.checkpoints} checkpoints (latest: size ${cp?.treeSize ?? 0}, root ${cp?.root.slice(0, 16) ?? '-'}…, ${cp?.time ?? '-'}), key ${key.keyId}, read from ${ctx.ledger.description}\n` +
              `  ${stats.files} files and ${stats.versions} change versions referencing ${stats.blocks} blocks (${stats.blocksRead} distinct ${opts.deep ? 'read and re-hashed' : 'checked to exist'}); ${(stats.bytesRead / 1e6).toFixed(1)} MB read in ${seconds.toFixed(1)} s (${result.recordsPerSecond.toFixed(0)} records/s, ${result.mbPerSecond.toFixed(1)} MB/s)\n`,
          );
        }
        if (findings.length > 0) process.exitCode = 1;
      } finally {
        ctx.close();
      }
    });
}

/** Splits "a@b" at its last @. */
function splitAt(target: string): [string, string] | undefined {
  const i = target.lastIndexOf('@');
  return i > 0 && i < target.length - 1 ? [target.slice(0, i), target.slice(i + 1)] : undefined;
}

function notFound(message: string): BackstreamError {
  return new BackstreamError('SNAPSHOT_NOT_FOUND', message, { retriable: false });
}

/** The manifest, segment and entry lines that take a proof from a record down to one file or change version. */
async function entryDetail(
  ctx: ReaderContext,
  record: SealedRecord,
  matches: (entry: Record<string, unknown>) => boolean,
): Promise<{ manifest: Buffer; segmentIndex: number; segment: Buffer; entry: string[] } | undefined> {
  const decoder = metadataDecoder(ctx.config.chunking.maxSize);
  const manifest = await readContentObject(ctx.store, decoder, record.chained.record.manifest, 'manifest');
  const json: unknown = JSON.parse(manifest.toString('utf8'));
  const parsed =
    record.chained.type === 'snapshot-commit'
      ? snapshotManifestSchema.parse(json)
      : changeBatchManifestSchema.parse(json);
  for (const [segmentIndex, ref] of parsed.segments.entries()) {
    const segment = await readContentObject(ctx.store, decoder, ref, 'segment');
    const entry = segment
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '' && matches(JSON.parse(line) as Record<string, unknown>));
    if (entry.length > 0) return { manifest, segmentIndex, segment, entry };
  }
  return undefined;
}

function proveCommand(): Command {
  return new Command('prove')
    .description(
      'print an inclusion proof (JSON) that `ledger check-proof` verifies offline: of a snapshot (SNAPSHOT), a file (PATH@SNAPSHOT) or, with --source, a change version (KEY@OFFSET); or with --consistency OLD_SIZE a consistency proof between two checkpoints',
    )
    .argument('[target]', 'SNAPSHOT | PATH@SNAPSHOT | KEY@OFFSET (with --source)')
    .option('--source <name>', 'the change source of KEY@OFFSET')
    .option('--consistency <oldSize>', 'prove that the latest checkpoint extends the checkpoint of this tree size')
    .option('--from-store', FROM_STORE)
    .option('--public-key <key|file>', 'Ed25519 public key (default: ledger.publicKey)')
    .action(async function (
      this: Command,
      target: string | undefined,
      opts: { source?: string; consistency?: string; fromStore?: boolean; publicKey?: string },
    ) {
      const { config } = loadCommandConfig(this);
      const key = verifyingKey(config, opts.publicKey);
      if (target === undefined && opts.consistency === undefined) {
        throw new ConfigError('ledger prove needs a target or --consistency OLD_SIZE');
      }
      const ctx = await openReaderContext(config, { fromStore: opts.fromStore, unfiltered: true });
      try {
        // What to keep while reading: the snapshot (by id prefix, or all for "latest") or the change commits covering the offset.
        const split = target !== undefined ? splitAt(target) : undefined;
        const change = opts.source !== undefined && split !== undefined;
        const snapshotRef = target === undefined || change ? undefined : (split?.[1] ?? target);
        const offset = change && split ? BigInt(split[1]) : undefined;
        const wanted = (r: SealedRecord): boolean => {
          if (snapshotRef !== undefined) {
            return (
              r.chained.type === 'snapshot-commit' &&
              (snapshotRef === 'latest' ||
                (snapshotRef.length >= 6 && r.chained.record.snapshotId.startsWith(snapshotRef)))
            );
          }
          if (offset === undefined || r.chained.type !== 'changes-commit') return false;
          const c = r.chained.record;
          return (
            c.sources.includes(opts.source as string) && BigInt(c.fromOffset) <= offset && offset <= BigInt(c.toOffset)
          );
        };
        const records = new Map<number, SealedRecord>();
        const checkpoints: SealedCheckpoint[] = [];
        const verifier = await readVerified(ctx.ledger, key, (sealed) => {
          if (!('chained' in sealed)) checkpoints.push(sealed);
          else if (wanted(sealed)) records.set(sealed.chained.seq, sealed);
        });
        const tree = new MerkleTree(verifier.leafHashes());
        const latest = checkpoints.filter((c) => c.checkpoint.treeSize <= tree.size).at(-1);
        if (!latest) throw notFound('the ledger has no signed checkpoint to prove against');
        if (opts.consistency !== undefined) {
          const oldSize = Number(opts.consistency);
          const older = checkpoints.find((c) => c.checkpoint.treeSize === oldSize);
          if (!older) throw notFound(`no signed checkpoint of tree size ${opts.consistency} in the ledger`);
          printJson(consistencyProof(older, latest, tree.consistencyProof(oldSize, latest.checkpoint.treeSize)));
          return;
        }
        const candidates = [...records.values()].filter((r) => r.chained.seq < latest.checkpoint.treeSize);
        let chosen: SealedRecord | undefined;
        let detail: Awaited<ReturnType<typeof entryDetail>>;
        if (snapshotRef !== undefined) {
          chosen = snapshotRef === 'latest' ? candidates.at(-1) : candidates.length === 1 ? candidates[0] : undefined;
          if (!chosen) {
            throw notFound(
              candidates.length > 1
                ? `snapshot id prefix ${snapshotRef} is ambiguous`
                : `no checkpointed snapshot ${snapshotRef}`,
            );
          }
          if (split) {
            const path = split[0].replace(/^\.?\/+|\/+$/g, '');
            detail = await entryDetail(ctx, chosen, (e) => e.path === path);
            if (!detail) throw notFound(`snapshot ${chosen.chained.record.snapshotId} has no entry ${path}`);
          }
        } else if (split) {
          for (const r of candidates) {
            detail = await entryDetail(
              ctx,
              r,
              (e) => e.key === split[0] && e.offset === split[1] && e.source === opts.source,
            );
            if (detail) {
              chosen = r;
              break;
            }
          }
          if (!chosen)
            throw notFound(`no committed version of ${split[0]} at offset ${split[1]} of source ${opts.source}`);
        }
        const record = chosen as SealedRecord;
        printJson(
          inclusionProof(
            latest,
            record,
            record.chained.seq,
            tree.inclusionProof(record.chained.seq, latest.checkpoint.treeSize),
            detail,
          ),
        );
      } finally {
        ctx.close();
      }
    });
}

function checkProofCommand(): Command {
  return new Command('check-proof')
    .description('verify a proof from `ledger prove` offline, with the public key only; exit 1 if it does not hold')
    .argument('<file>', 'the proof (JSON), or - for stdin')
    .option('--public-key <key|file>', 'Ed25519 public key (default: ledger.publicKey)')
    .option('--json', 'print what the proof establishes as one JSON line')
    .action(function (this: Command, file: string, opts: { publicKey?: string; json?: boolean }) {
      const { config } = loadCommandConfig(this);
      const key = verifyingKey(config, opts.publicKey);
      const text = readFileSync(file === '-' ? 0 : file, 'utf8');
      let input: unknown;
      try {
        input = JSON.parse(text);
      } catch {
        throw new BackstreamError('PROOF_INVALID', `${file} is not JSON`, { retriable: false });
      }
      const claims = checkProof(input, key);
      if (opts.json) {
        printJson({ ok: true, ...claims });
        return;
      }
      const cp = claims.checkpoint;
      const signedBy = `checkpoint of size ${cp.treeSize} (root ${cp.root.slice(0, 16)}…, ${cp.time}) signed by key ${key.keyId}`;
      if (claims.type === 'consistency') {
        process.stdout.write(`OK: the ${signedBy} extends the checkpoint of size ${claims.oldCheckpoint?.treeSize}\n`);
        return;
      }
      const r = claims.record;
      const what =
        r?.type === 'snapshot-commit'
          ? `snapshot ${r.record.snapshotId} of ${r.record.source} committed ${r.record.committedAt}`
          : `change batch ${r?.record.snapshotId}`;
      // The proven entry, without its chunk list (which --json prints in full).
      const entries = (claims.entry ?? [])
        .map((e) => {
          const { chunks, ...rest } = e as { chunks?: unknown[] } & Record<string, unknown>;
          return JSON.stringify({ ...rest, ...(chunks ? { chunks: chunks.length } : {}) });
        })
        .join('\n  ');
      process.stdout.write(
        `OK: ${what} is ledger record ${r?.seq}, included in the ${signedBy}\n${entries ? `  ${entries}\n` : ''}`,
      );
    });
}

function rebuildCommand(): Command {
  return new Command('rebuild')
    .description(
      're-publish the ledger topic from its store mirror (after the topic was lost): the records and checkpoints, byte for byte with their signatures. The topic must exist and be empty (`backstream topics ensure`)',
    )
    .option('--public-key <key|file>', 'Ed25519 public key to check the mirror with (default: ledger.publicKey)')
    .option('--json', 'print the result as one JSON line')
    .action(async function (this: Command, opts: { publicKey?: string; json?: boolean }) {
      const { config } = loadCommandConfig(this);
      const key = verifyingKey(config, opts.publicKey);
      const ctx = await openReaderContext(config, { unfiltered: true });
      const topic = topicName(config, 'ledger');
      const admin = ctx.kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        if (offsets.some((p) => p.high !== p.low || p.high !== '0')) {
          throw new ConfigError(
            `the ledger topic ${topic} is not empty: rebuild only fills an empty (recreated) topic`,
            {
              hint: 'check it with `backstream ledger verify`; to replace it, delete the topic and run `backstream topics ensure` first',
            },
          );
        }
        // Check the mirror before publishing anything from it.
        const messages: ReturnType<typeof ledgerMessage>[] = [];
        const verifier = await readVerified(new StoreLedgerSource(ctx.store), key, (sealed) =>
          messages.push(ledgerMessage(sealed)),
        );
        const summary = verifier.finish();
        if (verifier.findings.length > 0) {
          throw new BackstreamError(
            'LEDGER_INCONSISTENT',
            `the store mirror has ${verifier.findings.length} finding(s), first: ${verifier.findings[0]?.message}`,
            { retriable: false, hint: 'see `backstream ledger verify --from-store`' },
          );
        }
        // The sequencer's transactional id: fences a running sequencer, which re-reads the ledger before it writes again.
        const producer = ctx.kafka.producer({
          transactionalId: `${consumerGroupId(config, 'ledger-sequencer')}-tx`,
          idempotent: true,
          maxInFlightRequests: 1,
        });
        await producer.connect();
        try {
          for (let i = 0; i < messages.length; i += 500) {
            const transaction = await producer.transaction();
            try {
              await transaction.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
              await transaction.commit();
            } catch (err) {
              await transaction.abort().catch(() => undefined);
              throw err;
            }
          }
        } finally {
          await producer.disconnect();
        }
        const result = { topic, records: summary.records, checkpoints: summary.checkpoints, head: summary.head };
        if (opts.json) printJson(result);
        else
          process.stdout.write(
            `rebuilt ${topic}: ${result.records} records and ${result.checkpoints} checkpoints from the store mirror\n`,
          );
      } finally {
        await admin.disconnect();
        ctx.close();
      }
    });
}

function keygenCommand(): Command {
  return new Command('keygen')
    .description(
      'make an Ed25519 key pair for signing the ledger: the seed goes to ledger.signingKey (a secret), the public key to auditors',
    )
    .option('--json', 'print both as one JSON line')
    .action(function (this: Command, opts: { json?: boolean }) {
      const key = LedgerSigningKey.generate();
      const out = { signingKey: key.exportSeed(), publicKey: key.verifying.base64, keyId: key.verifying.keyId };
      if (opts.json) printJson(out);
      else
        process.stdout.write(
          `BACKSTREAM_LEDGER_SIGNING_KEY=${out.signingKey}\nBACKSTREAM_LEDGER_PUBLIC_KEY=${out.publicKey}\n# key id ${out.keyId}\n`,
        );
    });
}

export function ledgerCommand(): Command {
  const ledger = new Command('ledger').description(
    'audit the ledger: verify it, prove what it holds, rebuild it from the store',
  );
  ledger.addCommand(verifyCommand());
  ledger.addCommand(proveCommand());
  ledger.addCommand(checkProofCommand());
  ledger.addCommand(rebuildCommand());
  ledger.addCommand(keygenCommand());
  return ledger;
}

export function keyCommand(): Command {
  const key = new Command('key').description('repository encryption keys');
  key
    .command('generate')
    .description(
      'print a new random repository master key (base64) for encryption.masterKey; keep it safe: without it the backups are lost',
    )
    .action(() => {
      process.stdout.write(`${generateMasterKey()}\n`);
    });
  return key;
}
