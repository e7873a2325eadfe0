import {
  HEADERS,
  decodeLedgerMessage,
  type IncomingMessage,
  type LedgerCheckpoint,
  type LedgerRecord,
  type OutgoingMessage,
} from '../events';
import {
  GENESIS_PREV,
  LedgerChain,
  LedgerSigningKey,
  StoreLedgerSource,
  checkpointValue,
  ledgerMessage,
  writeMirrorObject,
  type LedgerItem,
  type SealedCheckpoint,
  type SealedRecord,
} from '../ledger';
import { mirrorKey } from '../ledger/mirror';
import { leafHash } from '../merkle';
import { T0, changesCommit, idOf, iso, sha256, snapshotCommit, testSigner } from '../ledger/test-fixtures';
import { MemoryObjectStore } from '../store';
import { LedgerChainVerifier, type AcceptedRecord, type LedgerFinding } from './verify-ledger';

const signer = testSigner;
const key = signer.verifying;
const intruder = LedgerSigningKey.generate();

function commit(name: string, i: number): LedgerRecord {
  const snapshotId = idOf(`${name}-${i}`);
  return i % 5 === 4
    ? changesCommit(snapshotId, i, sha256(`${name} ${i}`))
    : snapshotCommit(snapshotId, i, sha256(`${name} ${i}`));
}

type Entry = SealedRecord | SealedCheckpoint;
const isRecord = (e: Entry): e is SealedRecord => 'chained' in e;

/**
 * A ledger of `n` records with a checkpoint after every `every`, as the sequencer writes it:
 * entries in topic order, plus the records and checkpoints by seq / tree size.
 */
function buildLedger(n = 12, every = 4, name = 'verify-test', signWith = signer) {
  const chain = new LedgerChain();
  const entries: Entry[] = [];
  const records: SealedRecord[] = [];
  const checkpoints = new Map<number, SealedCheckpoint>();
  for (let i = 0; i < n; i++) {
    const r = chain.append(commit(name, i), signWith)!;
    records.push(r);
    entries.push(r);
    if ((i + 1) % every === 0) {
      const cp = chain.checkpoint(iso(T0 + i * 1000 + 600), signWith);
      checkpoints.set(i + 1, cp);
      entries.push(cp);
    }
  }
  return { chain, entries, records, checkpoints };
}

const L = buildLedger();
const R = L.records;
const C = (size: number): SealedCheckpoint => L.checkpoints.get(size)!;

/** What a consumer gets back for a produced message: headers as Buffers. */
function consumed(m: OutgoingMessage): IncomingMessage {
  return {
    key: Buffer.from(m.key),
    value: m.value,
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

/** The items TopicLedgerSource would give for these messages at offsets 0, 1, …. */
function topicItems(messages: (Entry | IncomingMessage)[]): LedgerItem[] {
  return messages.map((m, n): LedgerItem => {
    const at = `offset ${n}`;
    const offset = String(n);
    try {
      const decoded = decodeLedgerMessage('value' in m && !('signature' in m) ? m : consumed(ledgerMessage(m)));
      return decoded.kind === 'record'
        ? { kind: 'record', at, offset, chained: decoded.chained, value: decoded.value, signature: decoded.signature }
        : {
            kind: 'checkpoint',
            at,
            offset,
            checkpoint: decoded.checkpoint,
            value: decoded.value,
            signature: decoded.signature,
          };
    } catch (err) {
      return { kind: 'invalid', at, offset, reason: (err as Error).message };
    }
  });
}

function verify(items: LedgerItem[], verifyingKey = key) {
  const verifier = new LedgerChainVerifier(verifyingKey);
  const accepted: AcceptedRecord[] = [];
  for (const item of items) {
    const a = verifier.add(item);
    if (a) accepted.push(a);
  }
  const summary = verifier.finish();
  return { verifier, accepted, summary, findings: verifier.findings, kinds: verifier.findings.map((f) => f.kind) };
}

/** The topic offset of record `seq` in the untouched ledger (a checkpoint after every 4). */
const offsetOf = (seq: number): number => seq + Math.floor(seq / 4);

/** A record whose value is `edit`ed, keeping its signature (what an attacker with write access to Kafka can do). */
function altered(r: SealedRecord, edit: (text: string) => string): SealedRecord {
  const value = Buffer.from(edit(r.value.toString('utf8')));
  expect(value.equals(r.value)).toBe(false);
  return { ...r, value };
}

function replaced(entries: Entry[], from: Entry, to: Entry | Entry[]): Entry[] {
  const i = entries.indexOf(from);
  if (i < 0) throw new Error('entry not found');
  return [...entries.slice(0, i), ...(Array.isArray(to) ? to : [to]), ...entries.slice(i + 1)];
}

function swapped(entries: Entry[], a: Entry, b: Entry): Entry[] {
  const out = [...entries];
  const i = out.indexOf(a);
  const j = out.indexOf(b);
  out[i] = b;
  out[j] = a;
  return out;
}

describe('LedgerChainVerifier on a clean ledger', () => {
  it('finds nothing and sums up', () => {
    const { findings, summary, accepted, verifier } = verify(topicItems(L.entries));
    expect(findings).toEqual([]);
    expect(summary).toEqual({
      records: 12,
      checkpoints: 3,
      lastCheckpoint: C(12).checkpoint,
      unsealed: 0,
      head: L.chain.head,
    });
    expect(verifier.leafHashes()).toEqual(R.map((r) => leafHash(r.value)));
    expect(accepted.map((a) => a.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for (const a of accepted) {
      expect(a.at).toBe(`offset ${offsetOf(a.seq)}`);
      expect(a.offset).toBe(String(offsetOf(a.seq)));
      expect(a.item).toEqual(commit('verify-test', a.seq));
    }
  });

  it('counts the records after the last checkpoint as unsealed', () => {
    const { findings, summary } = verify(topicItems(L.entries.slice(0, -1)));
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({ records: 12, checkpoints: 2, lastCheckpoint: C(8).checkpoint, unsealed: 4 });
    expect(summary.head).toBe(L.chain.head);
  });

  it('of an empty ledger: nothing, head GENESIS_PREV', () => {
    const { findings, summary } = verify([]);
    expect(findings).toEqual([]);
    expect(summary).toEqual({ records: 0, checkpoints: 0, unsealed: 0, head: GENESIS_PREV });
  });

  it('read from the store mirror: nothing either, also with a crash orphan', async () => {
    const store = new MemoryObjectStore();
    await writeMirrorObject(store, 0, R.slice(0, 4), C(4));
    // A seal written to the mirror, then a crash before the topic commit, then a longer seal from the same point.
    const orphan = new LedgerChain();
    for (const r of R.slice(0, 6)) orphan.accept(r.value, r.chained, 'test');
    await writeMirrorObject(store, 4, R.slice(4, 6), orphan.checkpoint(iso(T0 + 5600), signer));
    await writeMirrorObject(store, 4, R.slice(4, 8), C(8));
    await writeMirrorObject(store, 8, R.slice(8, 12), C(12));
    const items: LedgerItem[] = [];
    await new StoreLedgerSource(store).read((item) => {
      items.push(item);
    });
    const { findings, summary, accepted } = verify(items);
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({ records: 12, checkpoints: 4, lastCheckpoint: C(12).checkpoint, unsealed: 0 });
    expect(accepted.map((a) => a.at)).toContain(`${mirrorKey(8)} record 2`);
    expect(accepted.every((a) => a.offset === undefined)).toBe(true);
  });
});

describe('LedgerChainVerifier on a tampered ledger', () => {
  const id5 = R[5]!.chained.record.snapshotId;

  it('an altered value: bad-signature naming its offset, the record then missing', () => {
    const entries = replaced(
      L.entries,
      R[5]!,
      altered(R[5]!, (t) => t.replace('"files":5', '"files":50')),
    );
    const { findings, summary, accepted } = verify(topicItems(entries));
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'bad-signature', at: 'offset 6', offset: '6', seq: 5, snapshotId: id5 }),
      expect.objectContaining({ kind: 'missing', seq: 5, at: 'offset 7' }),
    ]);
    expect(findings[0]!.message).toBe(
      `offset 6: record seq 5 (${id5}) does not match its signature: altered or forged`,
    );
    expect(accepted.map((a) => a.seq)).not.toContain(5);
    // The checkpoints over seq 5 cannot be confirmed.
    expect(summary).toMatchObject({ records: 11, checkpoints: 3, lastCheckpoint: C(4).checkpoint, unsealed: 7 });
  });

  it('a value altered by one byte of the prev hash: bad-signature', () => {
    const prev = R[5]!.chained.prev;
    const flipped = `${prev.slice(0, 10)}${prev[10] === '0' ? '1' : '0'}${prev.slice(11)}`;
    const entries = replaced(
      L.entries,
      R[5]!,
      altered(R[5]!, (t) => t.replace(prev, flipped)),
    );
    expect(verify(topicItems(entries)).kinds).toEqual(['bad-signature', 'missing']);
  });

  it('a missing signature: unsigned', () => {
    const entries = replaced(L.entries, R[5]!, { ...R[5]!, signature: '' });
    const messages = entries.map((e) => {
      const m = consumed(ledgerMessage(e));
      if (e !== entries[offsetOf(5)]) return m;
      const { [HEADERS.signature]: _dropped, ...headers } = m.headers!;
      return { ...m, headers };
    });
    const { findings, kinds } = verify(topicItems(messages));
    expect(kinds).toEqual(['unsigned', 'missing']);
    expect(findings[0]).toMatchObject({ at: 'offset 6', offset: '6', seq: 5, snapshotId: id5 });
    expect(findings[0]!.message).toContain('has no signature');
  });

  it('a record signed by another key: bad-signature', () => {
    const entries = replaced(L.entries, R[5]!, { ...R[5]!, signature: intruder.sign(R[5]!.value) });
    const { findings, kinds } = verify(topicItems(entries));
    expect(kinds).toEqual(['bad-signature', 'missing']);
    expect(findings[0]).toMatchObject({ at: 'offset 6', seq: 5 });
  });

  it('a whole ledger signed by another key: every record and checkpoint, naming the key it names', () => {
    const forged = buildLedger(12, 4, 'verify-test', intruder);
    const { findings, summary } = verify(topicItems(forged.entries));
    expect(findings.filter((f) => f.kind === 'bad-signature')).toHaveLength(12);
    const cps = findings.filter((f) => f.kind === 'checkpoint-bad-signature');
    expect(cps).toHaveLength(3);
    expect(cps[0]!.message).toContain(`(it names key ${intruder.verifying.keyId})`);
    expect(summary).toMatchObject({ records: 0, checkpoints: 0, unsealed: 0, head: GENESIS_PREV });
  });

  it('a dropped record: missing, naming the seq; the next checkpoint cannot be confirmed', () => {
    const entries = L.entries.filter((e) => e !== R[5]);
    const { findings, summary } = verify(topicItems(entries));
    expect(findings).toEqual([
      {
        kind: 'missing',
        at: 'offset 6',
        seq: 5,
        message: 'record seq 5 missing (dropped) before offset 6',
      },
    ]);
    // Nothing says the checkpoints of 8 and 12 are wrong, but neither is confirmed.
    expect(summary).toMatchObject({ records: 11, checkpoints: 3, lastCheckpoint: C(4).checkpoint });
  });

  it('several records dropped in a row: one finding for the run', () => {
    const entries = L.entries.filter((e) => e !== R[4] && e !== R[5] && e !== R[6]);
    const { findings } = verify(topicItems(entries));
    expect(findings).toEqual([
      { kind: 'missing', at: 'offset 5', seq: 4, message: 'record seqs 4…6 missing (dropped) before offset 5' },
    ]);
  });

  it('the last records dropped before their checkpoint: checkpoint-beyond-records', () => {
    const entries = L.entries.filter((e) => e !== R[10] && e !== R[11]);
    const { findings, summary } = verify(topicItems(entries));
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'checkpoint-beyond-records', at: 'offset 12', offset: '12' }),
    ]);
    expect(findings[0]!.message).toContain('covers records up to seq 11, but the ledger has none after seq 9');
    expect(summary).toMatchObject({ records: 10, lastCheckpoint: C(8).checkpoint, unsealed: 2 });
  });

  it('two records swapped: out-of-order, and the checkpoints still verify (records are placed by seq)', () => {
    const entries = swapped(L.entries, R[5]!, R[6]!);
    const { findings, summary, accepted } = verify(topicItems(entries));
    expect(findings).toEqual([expect.objectContaining({ kind: 'out-of-order', at: 'offset 7', seq: 5 })]);
    expect(findings[0]!.message).toBe(`offset 7: record seq 5 (${id5}) comes after seq 6 (offset 6): reordered`);
    expect(summary).toEqual({
      records: 12,
      checkpoints: 3,
      lastCheckpoint: C(12).checkpoint,
      unsealed: 0,
      head: L.chain.head,
    });
    expect(accepted.map((a) => a.seq)).toEqual([0, 1, 2, 3, 4, 6, 5, 7, 8, 9, 10, 11]);
  });

  it('a record moved after the checkpoint that covers it: out-of-order; that checkpoint is checked at the end', () => {
    const i = L.entries.indexOf(C(8));
    const without = L.entries.filter((e) => e !== R[5]);
    const entries = [...without.slice(0, i), R[5]!, ...without.slice(i)];
    expect(entries.indexOf(R[5]!)).toBe(i);
    expect(entries[i - 1]).toBe(C(8));
    const { findings, summary } = verify(topicItems(entries));
    expect(findings).toEqual([expect.objectContaining({ kind: 'out-of-order', seq: 5, at: 'offset 9' })]);
    expect(summary).toMatchObject({ records: 12, checkpoints: 3, lastCheckpoint: C(12).checkpoint, unsealed: 0 });
  });

  it('a record moved after its checkpoint, with no later checkpoint: the deferred one is the last confirmed', () => {
    const entries = [...L.entries.slice(0, 10).filter((e) => e !== R[6]), R[6]!];
    const { findings, summary } = verify(topicItems(entries));
    expect(findings.map((f) => f.kind)).toEqual(['out-of-order']);
    expect(summary).toMatchObject({ records: 8, checkpoints: 2, lastCheckpoint: C(8).checkpoint, unsealed: 0 });
  });

  it('a checkpoint met before its last record: reported, and not confirmed even though the record follows', () => {
    // The class comment says checkpoints met before all their records are checked at the
    // end; that holds for a gap below the newest record, not for records still to come.
    const entries = swapped(L.entries.slice(0, 10), R[7]!, C(8));
    const { findings, summary } = verify(topicItems(entries));
    expect(findings.map((f) => [f.kind, f.at])).toEqual([['checkpoint-beyond-records', 'offset 8']]);
    expect(summary).toMatchObject({ records: 8, checkpoints: 2, lastCheckpoint: C(4).checkpoint, unsealed: 4 });
  });

  it('a duplicated record: duplicate, naming the first', () => {
    const entries = replaced(L.entries, R[5]!, [R[5]!, R[5]!]);
    const { findings, summary } = verify(topicItems(entries));
    expect(findings).toEqual([
      {
        kind: 'duplicate',
        at: 'offset 7',
        offset: '7',
        seq: 5,
        snapshotId: id5,
        message: `offset 7: record seq 5 (${id5}) repeats offset 6`,
      },
    ]);
    expect(summary).toMatchObject({ records: 12, lastCheckpoint: C(12).checkpoint });
  });

  it('a second, different record for a seq, validly signed: conflict; the records after it break the chain', () => {
    // A fork: the same first five records, then another record 5 (same prev).
    const fork = new LedgerChain();
    for (const r of R.slice(0, 5)) fork.accept(r.value, r.chained, 'test');
    const other5 = fork.append(commit('fork', 5), signer)!;
    expect(other5.chained.prev).toBe(R[5]!.chained.prev);
    expect(verify(topicItems(replaced(L.entries, R[5]!, [R[5]!, other5]))).kinds).toEqual(['conflict']);
    // Replacing record 5 outright: its successor no longer chains, and the checkpoints over it do not match.
    const { findings } = verify(topicItems(replaced(L.entries, R[5]!, other5)));
    expect(findings.map((f) => [f.kind, f.at])).toEqual([
      ['broken-chain', 'offset 7'],
      ['checkpoint-mismatch', 'offset 9'],
      ['checkpoint-mismatch', 'offset 14'],
    ]);
  });

  it('an id committed twice, validly signed (a sequencer bug): duplicate-id', () => {
    const chained = { seq: 12, prev: L.chain.head, ...commit('verify-test', 3) };
    const value = Buffer.from(JSON.stringify(chained));
    const again = { chained, value, signature: signer.sign(value) } as SealedRecord;
    const { findings } = verify(topicItems([...L.entries, again]));
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'duplicate-id',
        seq: 12,
        message: `offset 15: ${R[3]!.chained.record.snapshotId} was already committed by record seq 3`,
      }),
    ]);
  });

  it('a forged checkpoint: checkpoint-bad-signature', () => {
    const real = C(8);
    // Signed by another key, naming that key.
    const byIntruder: SealedCheckpoint = {
      checkpoint: { ...real.checkpoint, keyId: intruder.verifying.keyId },
      value: checkpointValue({ ...real.checkpoint, keyId: intruder.verifying.keyId }),
      signature: '',
    };
    byIntruder.signature = intruder.sign(byIntruder.value);
    // Signed by another key, naming ours.
    const naming: SealedCheckpoint = { ...real, signature: intruder.sign(real.value) };
    // Our signature over other bytes: an altered root.
    const root = sha256('another tree');
    const altRoot: SealedCheckpoint = {
      checkpoint: { ...real.checkpoint, root },
      value: checkpointValue({ ...real.checkpoint, root }),
      signature: real.signature,
    };
    for (const [forged, names] of [
      [byIntruder, true],
      [naming, false],
      [altRoot, false],
    ] as const) {
      const { findings, summary } = verify(topicItems(replaced(L.entries, real, forged)));
      expect(findings).toEqual([expect.objectContaining({ kind: 'checkpoint-bad-signature', at: 'offset 9' })]);
      expect(findings[0]!.message.includes('it names key')).toBe(names);
      expect(summary).toMatchObject({ checkpoints: 2, lastCheckpoint: C(12).checkpoint });
    }
  });

  it('an unsigned checkpoint: checkpoint-unsigned', () => {
    const messages = L.entries.map((e) => {
      const m = consumed(ledgerMessage(e));
      if (e !== C(8)) return m;
      const { [HEADERS.signature]: _dropped, ...headers } = m.headers!;
      return { ...m, headers };
    });
    const { findings } = verify(topicItems(messages));
    expect(findings).toEqual([expect.objectContaining({ kind: 'checkpoint-unsigned', at: 'offset 9' })]);
  });

  function signedCheckpoint(checkpoint: LedgerCheckpoint): SealedCheckpoint {
    const value = checkpointValue(checkpoint);
    return { checkpoint, value, signature: signer.sign(value) };
  }

  it('a checkpoint with a wrong root, signed by the right key: checkpoint-mismatch', () => {
    const wrong = signedCheckpoint({ ...C(8).checkpoint, root: sha256('another tree') });
    const { findings, summary } = verify(topicItems(replaced(L.entries, C(8), wrong)));
    expect(findings).toEqual([expect.objectContaining({ kind: 'checkpoint-mismatch', at: 'offset 9', offset: '9' })]);
    expect(findings[0]!.message).toContain(`signs root ${wrong.checkpoint.root.slice(0, 16)}…`);
    expect(findings[0]!.message).toContain(`the records hash to ${C(8).checkpoint.root.slice(0, 16)}…`);
    expect(summary).toMatchObject({ checkpoints: 3, lastCheckpoint: C(12).checkpoint });
  });

  it('a checkpoint with the right root for another size: checkpoint-mismatch', () => {
    const shifted = signedCheckpoint({ ...C(8).checkpoint, treeSize: 7 });
    const entries = replaced(L.entries, C(8), shifted);
    // Met after record 7: it is checked at the end against the tree of 7.
    expect(verify(topicItems(entries)).kinds).toEqual(['checkpoint-mismatch']);
  });

  it('a checkpoint beyond the records, signed by the right key: checkpoint-beyond-records', () => {
    const longer = buildLedger(14);
    const beyond = longer.chain.checkpoint(iso(T0 + 20_000), signer);
    expect(beyond.checkpoint.treeSize).toBe(14);
    const { findings, summary } = verify(topicItems([...L.entries, beyond]));
    expect(findings).toEqual([
      {
        kind: 'checkpoint-beyond-records',
        at: 'offset 15',
        offset: '15',
        message:
          'offset 15: checkpoint of size 14 covers records up to seq 13, but the ledger has none after seq 11 before it: records dropped',
      },
    ]);
    expect(summary).toMatchObject({ lastCheckpoint: C(12).checkpoint });
  });

  it('an invalid item: not-a-record, with the reason', () => {
    const garbage: IncomingMessage = { value: Buffer.from('{"hello":"world"}'), headers: {} };
    const wrongType = consumed({
      key: 'x',
      value: Buffer.from('{}'),
      headers: { 'bs-type': 'file', 'bs-version': '1' },
    });
    const entries: (Entry | IncomingMessage)[] = [...L.entries];
    entries.splice(3, 0, garbage);
    entries.push(wrongType);
    const { findings, summary } = verify(topicItems(entries));
    expect(findings).toEqual([
      { kind: 'not-a-record', at: 'offset 3', offset: '3', message: 'offset 3: missing header bs-type' },
      expect.objectContaining({ kind: 'not-a-record', at: 'offset 16', offset: '16' }),
    ]);
    expect(findings[1]!.message).toContain('unexpected event type "file"');
    expect(summary).toMatchObject({ records: 12, lastCheckpoint: C(12).checkpoint });
  });

  it('an invalid item from the store mirror names the object', () => {
    const { findings } = verify([
      { kind: 'invalid', at: mirrorKey(4), reason: `ledger mirror object ${mirrorKey(4)} is not JSON` },
    ]);
    const expected: LedgerFinding = {
      kind: 'not-a-record',
      at: mirrorKey(4),
      offset: undefined,
      message: `${mirrorKey(4)}: ledger mirror object ${mirrorKey(4)} is not JSON`,
    };
    expect(findings).toEqual([expected]);
  });

  it('an altered record in the store mirror: bad-signature naming the object and the record', async () => {
    const store = new MemoryObjectStore();
    await writeMirrorObject(store, 0, R.slice(0, 4), C(4));
    await writeMirrorObject(
      store,
      4,
      [R[4]!, altered(R[5]!, (t) => t.replace('"files":5', '"files":6')), R[6]!, R[7]!],
      C(8),
    );
    const items: LedgerItem[] = [];
    await new StoreLedgerSource(store).read((item) => {
      items.push(item);
    });
    const { findings } = verify(items);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'bad-signature', at: `${mirrorKey(8)} record 1`, seq: 5, offset: undefined }),
      expect.objectContaining({ kind: 'missing', seq: 5, at: `${mirrorKey(8)} record 2` }),
    ]);
  });

  it('records that were all rejected leave nothing in the head or the leaves', () => {
    const entries = L.entries.map((e) =>
      isRecord(e) && e.chained.seq === 0 ? { ...e, signature: intruder.sign(e.value) } : e,
    );
    const { summary, verifier, kinds } = verify(topicItems(entries));
    expect(kinds).toEqual(['bad-signature', 'missing']);
    expect(verifier.leafHashes()).toEqual([]);
    expect(summary).toMatchObject({ records: 11, checkpoints: 3, unsealed: 11, head: GENESIS_PREV });
    expect(summary.lastCheckpoint).toBeUndefined();
  });
});
