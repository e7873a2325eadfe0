import { BackstreamError } from '../errors';
import type { LedgerRecord } from '../events';
import { MemoryObjectStore } from '../store';
import { LedgerChain, type SealedCheckpoint, type SealedRecord } from './chain';
import { MIRROR_PREFIX, decodeMirrorObject, listMirrorKeys, mirrorKey, writeMirrorObject } from './mirror';
import { LedgerSigningKey } from './signing';
import { TrustedLedger } from './follower';
import { StoreLedgerSource, type LedgerItem } from './source';
import { T0, idOf, iso, sha256, snapshotCommit, testSigner } from './test-fixtures';

const signer = testSigner;

function commit(name: string, i: number): LedgerRecord {
  return snapshotCommit(idOf(`${name}-${i}`), i, sha256(`${name} ${i}`));
}

/**
 * A ledger as the sequencer builds it: records of snapshots name-0, name-1, … and a
 * checkpoint at every size (what a seal ending there would sign, at event time).
 */
function ledger(n: number, name = 'mirror-test', names: (i: number) => string = () => name) {
  const chain = new LedgerChain();
  const records: SealedRecord[] = [];
  const checkpoints: SealedCheckpoint[] = [chain.checkpoint(iso(T0), signer)];
  for (let i = 0; i < n; i++) {
    records.push(chain.append(commit(names(i), i), signer)!);
    checkpoints.push(chain.checkpoint(iso(T0 + i * 1000 + 500), signer));
  }
  return {
    records,
    checkpoints,
    /** Writes the seal of records [from, to) and the checkpoint of size `to`. */
    seal: (store: MemoryObjectStore, from: number, to: number) =>
      writeMirrorObject(store, from, records.slice(from, to), checkpoints[to]!),
  };
}

async function readAll(store: MemoryObjectStore): Promise<LedgerItem[]> {
  const items: LedgerItem[] = [];
  await new StoreLedgerSource(store).read((item) => {
    items.push(item);
  });
  return items;
}

/** A compact view: r<seq> for records, c<treeSize> for checkpoints, ! for invalid items. */
function shape(items: LedgerItem[]): string[] {
  return items.map((i) =>
    i.kind === 'record' ? `r${i.chained.seq}` : i.kind === 'checkpoint' ? `c${i.checkpoint.treeSize}` : '!',
  );
}

function invalids(items: LedgerItem[]): Extract<LedgerItem, { kind: 'invalid' }>[] {
  return items.filter((i): i is Extract<LedgerItem, { kind: 'invalid' }> => i.kind === 'invalid');
}

async function rejected(p: Promise<unknown>): Promise<BackstreamError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BackstreamError);
    return err as BackstreamError;
  }
  throw new Error('expected a rejection');
}

describe('writeMirrorObject and StoreLedgerSource', () => {
  const l = ledger(8);

  it('writes one object per seal, keyed by the tree size in 20 digits', async () => {
    const store = new MemoryObjectStore();
    expect(await l.seal(store, 0, 3)).toBe('ledger/checkpoints/00000000000000000003.json');
    expect(await l.seal(store, 3, 5)).toBe(mirrorKey(5));
    expect([...store.objects.keys()]).toEqual([mirrorKey(3), mirrorKey(5)]);
    const object = decodeMirrorObject(mirrorKey(5), store.objects.get(mirrorKey(5))!);
    expect(object.key).toBe(mirrorKey(5));
    expect(object.from).toBe(3);
    expect(object.records.map((r) => r.value)).toEqual([l.records[3]!.value, l.records[4]!.value]);
    expect(object.records.map((r) => r.signature)).toEqual([l.records[3]!.signature, l.records[4]!.signature]);
    expect(object.checkpoint.value.equals(l.checkpoints[5]!.value)).toBe(true);
    expect(object.checkpoint.signature).toBe(l.checkpoints[5]!.signature);
    // Plaintext JSON an auditor can read without the repository key.
    expect(JSON.parse(store.objects.get(mirrorKey(5))!.toString('utf8'))).toMatchObject({
      format: 'backstream-ledger-mirror',
      version: 1,
      from: 3,
    });
  });

  it('reads back every record, then the checkpoint, seal by seal, with the exact bytes', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    await l.seal(store, 3, 5);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3', 'r3', 'r4', 'c5']);
    const records = items.filter((i) => i.kind === 'record');
    for (const [seq, item] of records.entries()) {
      expect(item.value.equals(l.records[seq]!.value)).toBe(true);
      expect(item.signature).toBe(l.records[seq]!.signature);
      expect(item.chained).toEqual(l.records[seq]!.chained);
      expect(item.offset).toBeUndefined();
    }
    expect(items.map((i) => i.at)).toEqual([
      `${mirrorKey(3)} record 0`,
      `${mirrorKey(3)} record 1`,
      `${mirrorKey(3)} record 2`,
      mirrorKey(3),
      `${mirrorKey(5)} record 0`,
      `${mirrorKey(5)} record 1`,
      mirrorKey(5),
    ]);
    const checkpoints = items.filter((i) => i.kind === 'checkpoint');
    expect(checkpoints.map((c) => c.checkpoint)).toEqual([l.checkpoints[3]!.checkpoint, l.checkpoints[5]!.checkpoint]);
    expect(checkpoints.map((c) => c.signature)).toEqual([l.checkpoints[3]!.signature, l.checkpoints[5]!.signature]);
    for (const item of [...records, ...checkpoints])
      expect(signer.verifying.verify(item.value, item.signature)).toBe(true);
  });

  it('reads nothing from an empty store', async () => {
    expect(await readAll(new MemoryObjectStore())).toEqual([]);
  });

  it('orders objects by tree size, not by when they were written, and ignores other keys', async () => {
    const big = ledger(12);
    const store = new MemoryObjectStore();
    await big.seal(store, 9, 10);
    await big.seal(store, 10, 12);
    await big.seal(store, 0, 9);
    store.objects.set(`${MIRROR_PREFIX}notes.json`, Buffer.from('{}'));
    store.objects.set(`${MIRROR_PREFIX}12.json`, Buffer.from('{}'));
    store.objects.set(`${MIRROR_PREFIX}00000000000000000012.json.tmp`, Buffer.from('{}'));
    expect(await listMirrorKeys(store)).toEqual([mirrorKey(9), mirrorKey(10), mirrorKey(12)]);
    expect(shape(await readAll(store))).toEqual([
      ...['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'c9'],
      ...['r9', 'c10', 'r10', 'r11', 'c12'],
    ]);
  });

  it('rewriting the same seal (a replay after a crash) is a no-op', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    const body = Buffer.from(store.objects.get(mirrorKey(3))!);
    // A sequencer rebuilt from scratch signs the same bytes.
    const replayed = ledger(8);
    expect(await replayed.seal(store, 0, 3)).toBe(mirrorKey(3));
    expect(await l.seal(store, 0, 3)).toBe(mirrorKey(3));
    expect(store.objects.get(mirrorKey(3))!.equals(body)).toBe(true);
    expect(store.objects.size).toBe(1);
    expect(shape(await readAll(store))).toEqual(['r0', 'r1', 'r2', 'c3']);
  });

  it('rewriting the same seal under Object Lock is a no-op too', async () => {
    const store = new MemoryObjectStore({ objectLock: { mode: 'COMPLIANCE', retentionDays: 30, extendDays: 7 } });
    await l.seal(store, 0, 3);
    await expect(l.seal(store, 0, 3)).resolves.toBe(mirrorKey(3));
  });

  it('a different body at the same key is LEDGER_MIRROR_CONFLICT, and the object stays as it was', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    const body = Buffer.from(store.objects.get(mirrorKey(3))!);
    // Another history of the same size: a ledger topic recreated over an old mirror.
    const other = ledger(3, 'other-history');
    const err = await rejected(other.seal(store, 0, 3));
    expect(err.code).toBe('LEDGER_MIRROR_CONFLICT');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(mirrorKey(3));
    expect(err.hint).toContain('ledger verify --from-store');
    // The same records with a checkpoint signed at another time, or another `from`, conflict too.
    const chain = new LedgerChain();
    for (const r of l.records.slice(0, 3)) chain.accept(r.value, r.chained, 'test');
    const retimed = chain.checkpoint(iso(T0 + 999_999), signer);
    expect(retimed.checkpoint.treeSize).toBe(3);
    expect((await rejected(writeMirrorObject(store, 0, l.records.slice(0, 3), retimed))).code).toBe(
      'LEDGER_MIRROR_CONFLICT',
    );
    expect((await rejected(writeMirrorObject(store, 1, l.records.slice(1, 3), l.checkpoints[3]!))).code).toBe(
      'LEDGER_MIRROR_CONFLICT',
    );
    expect(store.objects.get(mirrorKey(3))!.equals(body)).toBe(true);
  });

  it('reads each record once when objects overlap (a crash orphan: seal [0,3), then seal [0,5))', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    await l.seal(store, 0, 5);
    await l.seal(store, 5, 8);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3', 'r3', 'r4', 'c5', 'r5', 'r6', 'r7', 'c8']);
    expect(items[4]!.at).toBe(`${mirrorKey(5)} record 3`);
  });

  it('reads each record once when an orphan ends inside the next object (seal [3,4) orphaned, then [3,6))', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    await l.seal(store, 3, 4);
    await l.seal(store, 3, 6);
    await l.seal(store, 6, 8);
    expect(shape(await readAll(store))).toEqual([
      'r0',
      'r1',
      'r2',
      'c3',
      'r3',
      'c4',
      'r4',
      'r5',
      'c6',
      'r6',
      'r7',
      'c8',
    ]);
  });

  it('reports an overlap whose bytes differ as invalid items, and goes on', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    // Another history that shares record 0 (same id, same key: the same bytes) and then forks.
    const fork = ledger(5, 'mirror-test', (i) => (i === 0 ? 'mirror-test' : 'fork'));
    expect(fork.records[0]!.value.equals(l.records[0]!.value)).toBe(true);
    await fork.seal(store, 0, 5);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3', '!', '!', 'r3', 'r4', 'c5']);
    expect(invalids(items)).toEqual([
      {
        kind: 'invalid',
        at: `${mirrorKey(5)} record 1`,
        reason: 'differs from the record with seq 1 of an earlier object',
      },
      {
        kind: 'invalid',
        at: `${mirrorKey(5)} record 2`,
        reason: 'differs from the record with seq 2 of an earlier object',
      },
    ]);
    // The records after the overlap are the fork's.
    expect(items[6]!.kind === 'record' && items[6]!.value.equals(fork.records[3]!.value)).toBe(true);
  });

  it('reports a forked orphan that sorts between the objects of the history that replaced it', async () => {
    // An orphan [0,10) of another history, then the committed seals [0,3) [3,6) [6,9) [9,12):
    // by tree size the orphan comes after [6,9), overlapping records the source no longer
    // keeps (below 6). The chain makes any difference reach the overlap it still compares.
    const big = ledger(12);
    const fork = ledger(10, 'mirror-test', (i) => (i < 2 ? 'mirror-test' : 'fork'));
    const store = new MemoryObjectStore();
    await fork.seal(store, 0, 10);
    for (const [from, to] of [
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 12],
    ] as const)
      await big.seal(store, from, to);
    const items = await readAll(store);
    expect(shape(items)).toEqual([
      ...['r0', 'r1', 'r2', 'c3', 'r3', 'r4', 'r5', 'c6', 'r6', 'r7', 'r8', 'c9'],
      ...['!', '!', '!', 'r9', 'c10'],
      ...['!', 'r10', 'r11', 'c12'],
    ]);
    expect(invalids(items).map((i) => i.at)).toEqual([
      `${mirrorKey(10)} record 6`,
      `${mirrorKey(10)} record 7`,
      `${mirrorKey(10)} record 8`,
      `${mirrorKey(12)} record 0`,
    ]);
  });

  it('reports a gap between objects as an invalid item naming the missing records', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    await l.seal(store, 5, 8);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3', '!', 'r5', 'r6', 'r7', 'c8']);
    expect(invalids(items)).toEqual([
      { kind: 'invalid', at: mirrorKey(8), reason: 'the mirror has no object holding records 3…4' },
    ]);
  });

  it('reports a gap at the start (the first object lost)', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 3, 5);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['!', 'r3', 'r4', 'c5']);
    expect(invalids(items)[0]!.reason).toBe('the mirror has no object holding records 0…2');
  });

  it.each([
    ['not JSON', Buffer.from('{"format":"backstream-ledger-mirror",'), 'is not JSON'],
    [
      'not a mirror object',
      Buffer.from(JSON.stringify({ format: 'something-else', version: 1 })),
      'is not a mirror object',
    ],
    [
      'an object with an extra field',
      Buffer.from(
        JSON.stringify({
          format: 'backstream-ledger-mirror',
          version: 1,
          from: 0,
          records: [],
          checkpoint: { value: '', signature: '' },
          extra: 1,
        }),
      ),
      'is not a mirror object',
    ],
    ['empty', Buffer.alloc(0), 'is not JSON'],
  ])('reports a corrupt object (%s) as an invalid item, and reads on', async (_name, body, reason) => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    await l.seal(store, 3, 5);
    await l.seal(store, 5, 8);
    store.objects.set(mirrorKey(5), body);
    const items = await readAll(store);
    // The corrupt object, then the records it held are a gap before the next one.
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3', '!', '!', 'r5', 'r6', 'r7', 'c8']);
    const [corrupt, gap] = invalids(items);
    expect(corrupt!.at).toBe(mirrorKey(5));
    expect(corrupt!.reason).toContain(`ledger mirror object ${mirrorKey(5)} ${reason}`);
    expect(gap).toEqual({ kind: 'invalid', at: mirrorKey(8), reason: 'the mirror has no object holding records 3…4' });
  });

  it('decodeMirrorObject throws LEDGER_MIRROR_CORRUPT naming the key', () => {
    let err: unknown;
    try {
      decodeMirrorObject('ledger/checkpoints/x.json', Buffer.from('nope'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackstreamError);
    expect((err as BackstreamError).code).toBe('LEDGER_MIRROR_CORRUPT');
    expect((err as BackstreamError).message).toContain('ledger/checkpoints/x.json');
  });

  it('reports a record or checkpoint in an object that does not decode as an invalid item at its place', async () => {
    const store = new MemoryObjectStore();
    await l.seal(store, 0, 3);
    const object = JSON.parse(store.objects.get(mirrorKey(3))!.toString('utf8')) as {
      records: { value: string }[];
      checkpoint: { value: string };
    };
    object.records[1]!.value = '{"seq":1}';
    object.checkpoint.value = 'not json';
    store.objects.set(mirrorKey(3), Buffer.from(JSON.stringify(object)));
    await l.seal(store, 3, 5);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', '!', 'r2', '!', 'r3', 'r4', 'c5']);
    expect(invalids(items).map((i) => i.at)).toEqual([`${mirrorKey(3)} record 1`, mirrorKey(3)]);
    expect(invalids(items)[0]!.reason).toContain('invalid ledger-record event');
  });

  it('passes records on as they are: a bad signature is for the verifier to find', async () => {
    const store = new MemoryObjectStore();
    const other = LedgerSigningKey.generate();
    const forged = { ...l.records[1]!, signature: other.sign(l.records[1]!.value) };
    await writeMirrorObject(store, 0, [l.records[0]!, forged, l.records[2]!], l.checkpoints[3]!);
    const items = await readAll(store);
    expect(shape(items)).toEqual(['r0', 'r1', 'r2', 'c3']);
    const r1 = items[1]!;
    expect(r1.kind === 'record' && signer.verifying.verify(r1.value, r1.signature)).toBe(false);
  });

  it('the TrustedLedger over the mirror drops what the key did not sign, and reports invalid items', async () => {
    const store = new MemoryObjectStore();
    const other = LedgerSigningKey.generate();
    const forged = { ...l.records[1]!, signature: other.sign(l.records[1]!.value) };
    await writeMirrorObject(store, 0, [l.records[0]!, forged, l.records[2]!], l.checkpoints[3]!);
    await l.seal(store, 5, 8);
    const items: LedgerItem[] = [];
    const dropped: [string, string][] = [];
    const trusted = new TrustedLedger({
      kafka: undefined as never,
      topic: 'unused',
      trust: { key: signer.verifying },
      onRejected: (at, reason) => dropped.push([at, reason]),
    });
    await trusted.mirror(store).read((item) => {
      items.push(item);
    });
    expect(shape(items)).toEqual(['r0', 'r2', 'c3', 'r5', 'r6', 'r7', 'c8']);
    expect(dropped[0]).toEqual([`${mirrorKey(3)} record 1`, `not signed by ledger key ${signer.verifying.keyId}`]);
    expect(dropped[1]?.[1]).toContain('the mirror has no object holding records 3…4');
  });
});
