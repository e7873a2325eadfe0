import { BackstreamError } from '../errors';
import {
  HEADERS,
  SCHEMA_VERSION,
  chainedLedgerRecordSchema,
  decodeLedgerMessage,
  ledgerCheckpointSchema,
  type ChainedLedgerRecord,
  type IncomingMessage,
  type LedgerRecord,
  type OutgoingMessage,
} from '../events';
import { EMPTY_ROOT, MerkleTree, leafHash } from '../merkle';
import { GENESIS_PREV, LedgerChain, checkpointValue, ledgerMessage, type SealedRecord } from './chain';
import { LedgerSigningKey } from './signing';
import { TEST_SEED_HEX, changesCommit, idOf, iso, sha256, snapshotCommit, T0, testSigner } from './test-fixtures';

const signer = testSigner;

/** The commit record of snapshot i, or every third one a change-batch commit. */
function commit(i: number): LedgerRecord {
  const snapshotId = idOf(`chain-test-${i}`);
  if (i % 3 === 2) return changesCommit(snapshotId, i, sha256(`manifest ${i}`));
  return snapshotCommit(snapshotId, i, sha256(`manifest ${i}`), i === 0 ? null : idOf(`chain-test-${i - 1}`));
}

function build(n: number): { chain: LedgerChain; sealed: SealedRecord[] } {
  const chain = new LedgerChain();
  const sealed: SealedRecord[] = [];
  for (let i = 0; i < n; i++) {
    const s = chain.append(commit(i), signer);
    if (!s) throw new Error(`record ${i} was not appended`);
    sealed.push(s);
  }
  return { chain, sealed };
}

function consumed(m: OutgoingMessage): IncomingMessage {
  return {
    key: Buffer.from(m.key),
    value: m.value,
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

function thrown(fn: () => unknown): BackstreamError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BackstreamError);
    return err as BackstreamError;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('LedgerChain.append', () => {
  const { chain, sealed } = build(7);

  it('numbers records from 0 and chains each to the leaf hash of the previous value', () => {
    expect(sealed.map((s) => s.chained.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sealed[0]!.chained.prev).toBe(GENESIS_PREV);
    expect(GENESIS_PREV).toMatch(/^0{64}$/);
    for (let i = 1; i < sealed.length; i++) {
      expect(sealed[i]!.chained.prev).toBe(leafHash(sealed[i - 1]!.value).toString('hex'));
    }
    expect(chain.size).toBe(7);
    expect(chain.head).toBe(leafHash(sealed[6]!.value).toString('hex'));
  });

  it('writes value bytes that are the chained record, field order seq, prev, type, record', () => {
    for (const [i, s] of sealed.entries()) {
      const parsed: unknown = JSON.parse(s.value.toString('utf8'));
      expect(Object.keys(parsed as object)).toEqual(['seq', 'prev', 'type', 'record']);
      expect(chainedLedgerRecordSchema.parse(parsed)).toEqual(s.chained);
      const item = commit(i);
      expect(s.chained.type).toBe(item.type);
      expect(s.chained.record).toEqual(item.record);
    }
  });

  it('signs every value with the key', () => {
    for (const s of sealed) {
      expect(signer.verifying.verify(s.value, s.signature)).toBe(true);
      expect(Buffer.from(s.signature, 'base64')).toHaveLength(64);
    }
    const other = LedgerSigningKey.generate();
    expect(other.verifying.verify(sealed[0]!.value, sealed[0]!.signature)).toBe(false);
  });

  it('knows the ids it committed', () => {
    for (let i = 0; i < 7; i++) expect(chain.has(commit(i).record.snapshotId)).toBe(true);
    expect(chain.has(commit(7).record.snapshotId)).toBe(false);
  });

  it('returns undefined for an id already committed, and leaves the chain as it was', () => {
    const { chain: c } = build(4);
    const head = c.head;
    const root = c.root();
    expect(c.append(commit(2), signer)).toBeUndefined();
    // The same id with other contents (a re-sent intent after a crash) is still a repeat.
    const again = commit(0);
    again.record.committedAt = iso(T0 + 999_999);
    expect(c.append(again, signer)).toBeUndefined();
    expect([c.size, c.head, c.root()]).toEqual([4, head, root]);
    const next = c.append(commit(4), signer);
    expect(next?.chained.seq).toBe(4);
    expect(next?.chained.prev).toBe(head);
  });

  it('starts empty: size 0, head GENESIS_PREV, root the empty tree', () => {
    const c = new LedgerChain();
    expect([c.size, c.head, c.root()]).toEqual([0, GENESIS_PREV, EMPTY_ROOT.toString('hex')]);
  });
});

describe('LedgerChain.accept', () => {
  const { chain, sealed } = build(9);

  function rebuilt(records: SealedRecord[]): LedgerChain {
    const c = new LedgerChain();
    for (const [i, s] of records.entries()) c.accept(s.value, s.chained, `offset ${i}`);
    return c;
  }

  it('rebuilds the same head, root, size and ids from the records', () => {
    const c = rebuilt(sealed);
    expect([c.size, c.head, c.root()]).toEqual([chain.size, chain.head, chain.root()]);
    for (let i = 0; i < 9; i++) expect(c.has(commit(i).record.snapshotId)).toBe(true);
    expect(c.append(commit(3), signer)).toBeUndefined();
  });

  it('rebuilds from the decoded ledger messages (what the sequencer reads back) too', () => {
    const c = new LedgerChain();
    for (const [i, s] of sealed.entries()) {
      const decoded = decodeLedgerMessage(consumed(ledgerMessage(s)));
      if (decoded.kind !== 'record') throw new Error('not a record');
      c.accept(decoded.value, decoded.chained, `offset ${i}`);
    }
    expect([c.size, c.head, c.root()]).toEqual([chain.size, chain.head, chain.root()]);
  });

  it('then appends exactly what the original chain appends next', () => {
    const c = rebuilt(sealed);
    const original = build(9).chain;
    const a = original.append(commit(9), signer)!;
    const b = c.append(commit(9), signer)!;
    expect(b.value.equals(a.value)).toBe(true);
    expect(b.signature).toBe(a.signature);
  });

  const inconsistent: [string, (c: ChainedLedgerRecord) => ChainedLedgerRecord, number][] = [
    ['a seq one too far (a record dropped)', (c) => ({ ...c, seq: c.seq + 1 }), 4],
    ['a seq already taken (a record repeated)', (c) => ({ ...c, seq: c.seq - 1 }), 4],
    ['the first record with seq 1', (c) => ({ ...c, seq: 1 }), 0],
    ['a prev that is not the head', (c) => ({ ...c, prev: sha256('elsewhere') }), 4],
    ['a first record whose prev is not GENESIS_PREV', (c) => ({ ...c, prev: sha256('elsewhere') }), 0],
    ['a prev of the record before the previous one', (c) => ({ ...c, prev: sealed[c.seq - 2]!.chained.prev }), 4],
  ];
  it.each(inconsistent)('throws LEDGER_INCONSISTENT for %s, and does not advance', (_name, edit, at) => {
    const c = rebuilt(sealed.slice(0, at));
    const before = [c.size, c.head, c.root()];
    const s = sealed[at]!;
    const err = thrown(() => c.accept(s.value, edit(s.chained), 'offset 42'));
    expect(err.code).toBe('LEDGER_INCONSISTENT');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('offset 42');
    expect(err.message).toContain(`expected seq ${at}`);
    expect([c.size, c.head, c.root()]).toEqual(before);
    // The right record is still accepted afterwards.
    c.accept(s.value, s.chained, 'offset 43');
    expect(c.size).toBe(at + 1);
  });

  it('throws LEDGER_INCONSISTENT for a record of another chain at the same seq', () => {
    const fork = new LedgerChain();
    for (let i = 0; i < 3; i++) fork.append(commit(100 + i), signer);
    const forked = fork.append(commit(3), signer)!;
    const c = rebuilt(sealed.slice(0, 3));
    expect(forked.chained.seq).toBe(3);
    expect(thrown(() => c.accept(forked.value, forked.chained, 'offset 3')).code).toBe('LEDGER_INCONSISTENT');
  });
});

describe('LedgerChain.accept of repeats', () => {
  const { chain, sealed } = build(6);

  it.each([0, 3, 5])('skips a byte-identical repeat of accepted record %i and goes on', (i) => {
    const c = new LedgerChain();
    for (const [n, s] of sealed.entries()) expect(c.accept(s.value, s.chained, `offset ${n}`)).toBe('accepted');
    const repeat = sealed[i]!;
    expect(c.accept(Buffer.from(repeat.value), repeat.chained, 'offset 99')).toBe('repeat');
    expect([c.size, c.head, c.root()]).toEqual([chain.size, chain.head, chain.root()]);
    expect(c.append(commit(6), signer)?.chained.seq).toBe(6);
  });

  it('still throws LEDGER_INCONSISTENT for a signed record with a taken seq and other bytes (a fork)', () => {
    const c = new LedgerChain();
    for (const [n, s] of sealed.entries()) c.accept(s.value, s.chained, `offset ${n}`);
    const fork = new LedgerChain();
    for (let i = 0; i < 2; i++) fork.append(commit(i), signer);
    const other = fork.append(commit(200), signer)!;
    expect(other.chained.seq).toBe(2);
    expect(thrown(() => c.accept(other.value, other.chained, 'offset 7')).code).toBe('LEDGER_INCONSISTENT');
  });
});

describe('LedgerChain.checkpoint', () => {
  const TIME = '2024-05-01T12:00:00.000Z';

  it('signs the Merkle root of the records so far', () => {
    const chain = new LedgerChain();
    const values: Buffer[] = [];
    for (let i = 0; i < 13; i++) {
      const s = chain.append(commit(i), signer)!;
      values.push(s.value);
      const cp = chain.checkpoint(TIME, signer);
      const tree = new MerkleTree(values.map((v) => leafHash(v)));
      expect(cp.checkpoint).toEqual({
        treeSize: i + 1,
        root: tree.root(i + 1).toString('hex'),
        time: TIME,
        keyId: signer.verifying.keyId,
      });
      expect(cp.checkpoint.root).toBe(chain.root());
      expect(signer.verifying.verify(cp.value, cp.signature)).toBe(true);
    }
  });

  it('writes value bytes that are the checkpoint, field order treeSize, root, time, keyId', () => {
    const { chain } = build(5);
    const cp = chain.checkpoint(TIME, signer);
    expect(cp.value.equals(checkpointValue(cp.checkpoint))).toBe(true);
    const parsed: unknown = JSON.parse(cp.value.toString('utf8'));
    expect(Object.keys(parsed as object)).toEqual(['treeSize', 'root', 'time', 'keyId']);
    expect(ledgerCheckpointSchema.parse(parsed)).toEqual(cp.checkpoint);
  });

  it('of the empty chain: size 0 and the empty root', () => {
    const cp = new LedgerChain().checkpoint(TIME, signer);
    expect(cp.checkpoint.treeSize).toBe(0);
    expect(cp.checkpoint.root).toBe(EMPTY_ROOT.toString('hex'));
    expect(ledgerCheckpointSchema.parse(JSON.parse(cp.value.toString('utf8')))).toEqual(cp.checkpoint);
  });

  it('is deterministic: the same inputs give byte-identical records, checkpoints and signatures', () => {
    // What makes a sequencer's replay after a crash rewrite the same mirror objects.
    const a = build(10);
    const b = build(10);
    const sameKey = LedgerSigningKey.parse(Buffer.from(TEST_SEED_HEX, 'hex').toString('base64'), 'same key');
    const c = new LedgerChain();
    const sealedC = Array.from({ length: 10 }, (_, i) => c.append(commit(i), sameKey)!);
    for (let i = 0; i < 10; i++) {
      expect(b.sealed[i]!.value.equals(a.sealed[i]!.value)).toBe(true);
      expect(b.sealed[i]!.signature).toBe(a.sealed[i]!.signature);
      expect(sealedC[i]!.value.equals(a.sealed[i]!.value)).toBe(true);
      expect(sealedC[i]!.signature).toBe(a.sealed[i]!.signature);
    }
    const cpA = a.chain.checkpoint(TIME, signer);
    const cpB = b.chain.checkpoint(TIME, signer);
    const cpC = c.checkpoint(TIME, sameKey);
    expect(cpB.value.equals(cpA.value)).toBe(true);
    expect(cpB.signature).toBe(cpA.signature);
    expect(cpC.value.equals(cpA.value)).toBe(true);
    expect(cpC.signature).toBe(cpA.signature);
    // A chain rebuilt by accept checkpoints the same bytes.
    const r = new LedgerChain();
    for (const s of a.sealed) r.accept(s.value, s.chained, 'replay');
    const cpR = r.checkpoint(TIME, signer);
    expect(cpR.value.equals(cpA.value)).toBe(true);
    expect(cpR.signature).toBe(cpA.signature);
    // Twice from the same chain, too.
    expect(a.chain.checkpoint(TIME, signer).signature).toBe(cpA.signature);
  });

  it('differs with the time, the key or the records', () => {
    const { chain } = build(4);
    const base = chain.checkpoint(TIME, signer);
    expect(chain.checkpoint('2024-05-01T12:00:00.001Z', signer).value.equals(base.value)).toBe(false);
    const other = LedgerSigningKey.generate();
    const byOther = chain.checkpoint(TIME, other);
    expect(byOther.checkpoint.keyId).toBe(other.verifying.keyId);
    expect(byOther.checkpoint.keyId).not.toBe(base.checkpoint.keyId);
    expect(signer.verifying.verify(byOther.value, byOther.signature)).toBe(false);
    const longer = build(5).chain.checkpoint(TIME, signer);
    expect(longer.checkpoint.root).not.toBe(base.checkpoint.root);
  });
});

describe('ledgerMessage', () => {
  const { chain, sealed } = build(2);

  it('keys a record by its snapshot id and carries the signature header; it decodes back', () => {
    const s = sealed[1]!;
    const m = ledgerMessage(s);
    expect(m.key).toBe(s.chained.record.snapshotId);
    expect(m.value).toBe(s.value);
    expect(m.headers).toEqual({
      [HEADERS.type]: 'ledger-record',
      [HEADERS.version]: String(SCHEMA_VERSION),
      [HEADERS.signature]: s.signature,
    });
    const decoded = decodeLedgerMessage(consumed(m));
    expect(decoded).toEqual({ kind: 'record', chained: s.chained, value: s.value, signature: s.signature });
  });

  it('keys a checkpoint "checkpoint"; it decodes back', () => {
    const cp = chain.checkpoint('2024-05-01T12:00:00.000Z', signer);
    const m = ledgerMessage(cp);
    expect(m.key).toBe('checkpoint');
    expect(m.headers[HEADERS.type]).toBe('ledger-checkpoint');
    expect(m.headers[HEADERS.signature]).toBe(cp.signature);
    const decoded = decodeLedgerMessage(consumed(m));
    expect(decoded).toEqual({
      kind: 'checkpoint',
      checkpoint: cp.checkpoint,
      value: cp.value,
      signature: cp.signature,
    });
  });
});
