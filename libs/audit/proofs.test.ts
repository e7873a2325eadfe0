import { BackstreamError } from '../errors';
import type { LedgerRecord } from '../events';
import { LedgerChain, LedgerSigningKey, type SealedCheckpoint, type SealedRecord } from '../ledger';
import { changeBatchManifestSchema, readContentObject, snapshotManifestSchema } from '../manifest';
import { MerkleTree, leafHash } from '../merkle';
import { T0, idOf, iso, sha256, snapshotCommit, testSigner } from '../ledger/test-fixtures';
import { Repo as ChangeRepo, upsert } from '../pit/test-fixtures';
import { SnapshotRepo, decoder, type EntrySpec } from './data-check-fixtures';
import { checkProof, consistencyProof, inclusionProof, type ConsistencyProof, type InclusionProof } from './proofs';

const signer = testSigner;
const key = signer.verifying;
const otherKey = LedgerSigningKey.generate().verifying;

function filler(i: number): LedgerRecord {
  return snapshotCommit(idOf(`proof-test-${i}`), i, sha256(`manifest ${i}`));
}

/** A ledger of the given records with a signed checkpoint at every size, and its Merkle tree. */
function buildLedger(items: LedgerRecord[]) {
  const chain = new LedgerChain();
  const records: SealedRecord[] = [];
  const checkpoints: SealedCheckpoint[] = [];
  for (const [i, item] of items.entries()) {
    records.push(chain.append(item, signer)!);
    checkpoints[i + 1] = chain.checkpoint(iso(T0 + i * 1000 + 600), signer);
  }
  const tree = new MerkleTree(records.map((r) => leafHash(r.value)));
  return {
    records,
    checkpoint: (size: number): SealedCheckpoint => checkpoints[size]!,
    inclusion: (seq: number, size: number, detail?: Parameters<typeof inclusionProof>[4]): InclusionProof =>
      inclusionProof(checkpoints[size]!, records[seq]!, seq, tree.inclusionProof(seq, size), detail),
    consistency: (oldSize: number, newSize: number): ConsistencyProof =>
      consistencyProof(checkpoints[oldSize]!, checkpoints[newSize]!, tree.consistencyProof(oldSize, newSize)),
  };
}

/** What an auditor gets: the proof as JSON text, parsed. */
const asJson = (proof: unknown): unknown => JSON.parse(JSON.stringify(proof));

function invalidProof(fn: () => unknown): BackstreamError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BackstreamError);
    expect((err as BackstreamError).code).toBe('PROOF_INVALID');
    return err as BackstreamError;
  }
  throw new Error('expected PROOF_INVALID, the proof checked out');
}

// ---- Single-character mutations --------------------------------------------------------

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type JsonPath = (string | number)[];

const HEX = '0123456789abcdef';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

function* leaves(value: Json, path: JsonPath = []): Generator<{ path: JsonPath; value: Json }> {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* leaves(v, [...path, i]);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) yield* leaves(v, [...path, k]);
  } else {
    yield { path, value };
  }
}

function setAt(root: Json, path: JsonPath, value: Json | undefined): Json {
  const copy = JSON.parse(JSON.stringify(root)) as Json;
  let node = copy as Record<string | number, Json>;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** Every position of a short string; of a long one, both ends and `middle` positions spread between. */
function positions(length: number, middle = 64): number[] {
  if (length <= 2 * 16 + middle) return Array.from({ length }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < 16; i++) out.add(i).add(length - 1 - i);
  for (let k = 0; k < middle; k++) out.add(16 + Math.floor((k * (length - 32)) / middle));
  return [...out].sort((a, b) => a - b);
}

/**
 * The one-character edits tried at a position: the next character of the field's alphabet,
 * the one whose index differs in the lowest bit (for base64: the same bytes to a lenient
 * decoder when the position carries padding bits), the other case of a letter, a character
 * outside every alphabet, and deletion.
 */
function edits(text: string, at: number, alphabet: string): string[] {
  const c = text[at]!;
  const i = alphabet.indexOf(c);
  const candidates = new Set<string>([
    alphabet[(i + 1) % alphabet.length]!,
    alphabet[i < 0 ? 0 : i ^ 1] ?? alphabet[0]!,
    c.toUpperCase(),
    c.toLowerCase(),
    '~',
  ]);
  candidates.delete(c);
  return [
    ...[...candidates].map((r) => text.slice(0, at) + r + text.slice(at + 1)),
    text.slice(0, at) + text.slice(at + 1),
  ];
}

function alphabetOf(path: JsonPath): string {
  if (path.at(-1) === 'signature') return BASE64;
  if (path[0] === 'path') return HEX;
  return PRINTABLE;
}

/**
 * Checks every mutation of `proof`: one character of every string field changed or deleted
 * (at sampled positions), every number ±1, every field removed. Returns how many were
 * tried and the ones that still checked out (there must be none).
 */
function mutate(
  proof: Json,
  options: { middle?: number; optional?: string[] } = {},
): { tried: number; passed: string[] } {
  let tried = 0;
  const passed: string[] = [];
  const attempt = (what: string, mutated: Json) => {
    tried += 1;
    try {
      checkProof(mutated, key);
      passed.push(what);
    } catch (err) {
      if (!(err instanceof BackstreamError) || err.code !== 'PROOF_INVALID')
        passed.push(`${what}: threw ${String(err)}`);
    }
  };
  for (const leaf of leaves(proof)) {
    const where = leaf.path.join('.');
    if (typeof leaf.value === 'string') {
      const text = leaf.value;
      for (const at of positions(text.length, options.middle)) {
        for (const edited of edits(text, at, alphabetOf(leaf.path))) {
          attempt(
            `${where}[${at}] ${JSON.stringify(text[at])} -> ${edited.length < text.length ? 'deleted' : JSON.stringify(edited[at])}`,
            setAt(proof, leaf.path, edited),
          );
        }
      }
      attempt(`${where} emptied`, setAt(proof, leaf.path, ''));
    } else if (typeof leaf.value === 'number') {
      for (const d of [-1, 1]) attempt(`${where} ${d > 0 ? '+' : ''}${d}`, setAt(proof, leaf.path, leaf.value + d));
      attempt(`${where} as a string`, setAt(proof, leaf.path, String(leaf.value)));
    }
  }
  // Removing a field: only the file-level detail is optional, and only all together.
  for (const k of Object.keys(proof as object)) {
    if (!(options.optional ?? []).includes(k)) attempt(`${k} removed`, setAt(proof, [k], undefined));
  }
  return { tried, passed };
}

// ---- The ledger ------------------------------------------------------------------------

describe('record proofs over a 13-record ledger', () => {
  const L = buildLedger(Array.from({ length: 13 }, (_, i) => filler(i)));

  it('an inclusion proof of every record into the latest checkpoint verifies', () => {
    for (let seq = 0; seq < 13; seq++) {
      const proof = L.inclusion(seq, 13);
      expect(proof.leafIndex).toBe(seq);
      const claims = checkProof(asJson(proof), key);
      expect(claims).toEqual({
        type: 'inclusion',
        checkpoint: L.checkpoint(13).checkpoint,
        record: L.records[seq]!.chained,
      });
    }
  });

  it('an inclusion proof of every record into every checkpoint that covers it verifies', () => {
    for (let size = 1; size <= 13; size++) {
      for (let seq = 0; seq < size; seq++) {
        expect(checkProof(asJson(L.inclusion(seq, size)), key).checkpoint.treeSize).toBe(size);
      }
    }
  });

  const pairs: [number, number][] = [
    [1, 1],
    [1, 2],
    [1, 13],
    [2, 3],
    [3, 7],
    [4, 7],
    [4, 8],
    [4, 13],
    [5, 13],
    [6, 8],
    [7, 8],
    [7, 13],
    [8, 13],
    [12, 13],
    [13, 13],
  ];
  it.each(pairs)('a consistency proof from %i to %i verifies', (oldSize, newSize) => {
    const claims = checkProof(asJson(L.consistency(oldSize, newSize)), key);
    expect(claims).toEqual({
      type: 'consistency',
      checkpoint: L.checkpoint(newSize).checkpoint,
      oldCheckpoint: L.checkpoint(oldSize).checkpoint,
    });
  });

  it('a consistency proof does not verify between other checkpoints, nor backwards', () => {
    const proof = L.consistency(4, 8);
    const text = (c: SealedCheckpoint) => ({ value: c.value.toString('utf8'), signature: c.signature });
    invalidProof(() => checkProof({ ...proof, old: text(L.checkpoint(5)) }, key));
    invalidProof(() => checkProof({ ...proof, new: text(L.checkpoint(9)) }, key));
    invalidProof(() => checkProof({ ...proof, old: proof.new, new: proof.old }, key));
    invalidProof(() => checkProof({ ...L.consistency(4, 8), path: L.consistency(4, 9).path }, key));
  });

  it('an inclusion proof does not verify for another record, position or checkpoint', () => {
    const proof = L.inclusion(5, 13);
    const text = (v: SealedRecord | SealedCheckpoint) => ({ value: v.value.toString('utf8'), signature: v.signature });
    expect(invalidProof(() => checkProof({ ...proof, record: text(L.records[6]!) }, key)).message).toContain(
      'the record has seq 6, the proof says leaf 5',
    );
    expect(
      invalidProof(() => checkProof({ ...proof, record: text(L.records[6]!), leafIndex: 6 }, key)).message,
    ).toContain('is not proven to be leaf 6 of the tree of size 13');
    invalidProof(() => checkProof({ ...proof, checkpoint: text(L.checkpoint(12)) }, key));
    invalidProof(() => checkProof({ ...proof, path: proof.path.slice(0, -1) }, key));
    invalidProof(() => checkProof({ ...proof, path: [...proof.path, proof.path[0]!] }, key));
    invalidProof(() => checkProof({ ...proof, path: [...proof.path].reverse() }, key));
  });

  it('a proof checked with another public key throws', () => {
    expect(invalidProof(() => checkProof(asJson(L.inclusion(5, 13)), otherKey)).message).toBe(
      `the proof checkpoint's signature does not verify with key ${otherKey.keyId}`,
    );
    expect(invalidProof(() => checkProof(asJson(L.consistency(4, 13)), otherKey)).message).toBe(
      `the old checkpoint's signature does not verify with key ${otherKey.keyId}`,
    );
  });

  it('a record signed by another key in a proof whose checkpoint is ours throws', () => {
    const proof = L.inclusion(5, 13);
    const forger = LedgerSigningKey.generate();
    const forged = { ...proof, record: { ...proof.record, signature: forger.sign(L.records[5]!.value) } };
    expect(invalidProof(() => checkProof(forged, key)).message).toContain("the record's signature does not verify");
  });

  it('what is not a proof throws PROOF_INVALID', () => {
    for (const input of [null, undefined, 42, 'proof', [], {}, { type: 'consistency' }, { type: 'inclusion' }]) {
      invalidProof(() => checkProof(input, key));
    }
  });

  // A sample of proofs: a leaf at each edge and inside; consistency from a perfect subtree
  // (its root left out of the proof), from a tree that is not one, and between equal sizes.
  const sampleInclusion: [number, number][] = [
    [0, 13],
    [6, 13],
    [12, 13],
    [3, 7],
  ];
  it.each(sampleInclusion)('any one-character change to the inclusion proof of %i into %i throws', (seq, size) => {
    const { tried, passed } = mutate(asJson(L.inclusion(seq, size)) as Json);
    expect(passed).toEqual([]);
    expect(tried).toBeGreaterThan(1500);
  });

  it.each([
    [4, 13],
    [5, 13],
    [7, 8],
    [13, 13],
  ])('any one-character change to the consistency proof from %i to %i throws', (oldSize, newSize) => {
    const { tried, passed } = mutate(asJson(L.consistency(oldSize, newSize)) as Json);
    expect(passed).toEqual([]);
    expect(tried).toBeGreaterThan(600);
  });

  it('base64 positions that carry padding bits are caught by the canonical form, not the decoder', () => {
    // 64 signature bytes are 86 base64 digits and "==": the last digit holds 2 bits of the
    // signature and 4 zero bits. Node's decoder ignores those 4 bits, so the signature bytes
    // are unchanged; LedgerVerifyingKey.verify rejects the non-canonical text. Nothing had
    // to be excluded from the mutations above for it.
    const proof = L.inclusion(6, 13);
    const sig = proof.record.signature;
    const i = BASE64.indexOf(sig[85]!);
    const lenient = `${sig.slice(0, 85)}${BASE64[i ^ 1]}==`;
    expect(Buffer.from(lenient, 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);
    expect(
      invalidProof(() => checkProof({ ...proof, record: { ...proof.record, signature: lenient } }, key)).message,
    ).toContain("the record's signature does not verify");
    // Upper-case hex decodes to the same bytes too; the proof schema wants lower case.
    invalidProof(() => checkProof({ ...proof, path: proof.path.map((h) => h.toUpperCase()) }, key));
  });
});

// ---- Down to one file / one change version ------------------------------------------------

const TEXT = Buffer.from('a file proven to be in a snapshot, line after line. '.repeat(40));
const TREE: EntrySpec[] = [
  { path: 'docs', kind: 'dir' },
  { path: 'docs/a.txt', content: TEXT },
  { path: 'docs/b.txt', content: Buffer.from('short') },
  { path: 'docs/c.txt', content: Buffer.concat([TEXT, TEXT]) },
  { path: 'docs/link', kind: 'symlink' },
  { path: 'docs/z.txt', content: Buffer.from('last') },
];

interface Detail {
  manifest: Buffer;
  segmentIndex: number;
  segment: Buffer;
  entry: string[];
}

/** As `ledger prove PATH@SNAPSHOT` finds it: the manifest, the segment holding the entry, its lines. */
async function detailOf(
  store: SnapshotRepo['store'],
  record: SealedRecord,
  matches: (entry: Record<string, unknown>) => boolean,
): Promise<Detail> {
  const manifest = await readContentObject(store, decoder, record.chained.record.manifest, 'manifest');
  const json: unknown = JSON.parse(manifest.toString('utf8'));
  const parsed =
    record.chained.type === 'snapshot-commit'
      ? snapshotManifestSchema.parse(json)
      : changeBatchManifestSchema.parse(json);
  for (const [segmentIndex, ref] of parsed.segments.entries()) {
    const segment = await readContentObject(store, decoder, ref, 'segment');
    const entry = segment
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '' && matches(JSON.parse(line) as Record<string, unknown>));
    if (entry.length > 0) return { manifest, segmentIndex, segment, entry };
  }
  throw new Error('no such entry');
}

describe('file proofs (record, manifest, segment, entry)', () => {
  const repo = new SnapshotRepo();
  let L: ReturnType<typeof buildLedger>;
  let aSeq: number;
  let bSeq: number;
  let detailA: Detail;
  let detailB: Detail;
  let lastA: Detail;
  let detailNew: Detail;
  let segmentCount: number;

  beforeAll(async () => {
    const a = await repo.commit('proof-a', TREE);
    const b = await repo.commit('proof-b', [...TREE, { path: 'docs/new.txt', content: Buffer.from('new') }]);
    const items = Array.from({ length: 13 }, (_, i) => filler(i));
    aSeq = 4;
    bSeq = 9;
    items[aSeq] = { type: 'snapshot-commit', record: a.record };
    items[bSeq] = { type: 'snapshot-commit', record: b.record };
    L = buildLedger(items);
    detailA = await detailOf(repo.store, L.records[aSeq]!, (e) => e.path === 'docs/a.txt');
    detailB = await detailOf(repo.store, L.records[bSeq]!, (e) => e.path === 'docs/a.txt');
    lastA = await detailOf(repo.store, L.records[aSeq]!, (e) => e.path === 'docs/z.txt');
    detailNew = await detailOf(repo.store, L.records[bSeq]!, (e) => e.path === 'docs/new.txt');
    segmentCount = snapshotManifestSchema.parse(JSON.parse(detailA.manifest.toString('utf8'))).segments.length;
  });

  const proofA = (d: Detail = detailA) => L.inclusion(aSeq, 13, d);

  it('the fixture: a real manifest with several segments, whose SHA-256 the record commits to', () => {
    expect(segmentCount).toBeGreaterThan(1);
    expect(lastA.segmentIndex).not.toBe(detailA.segmentIndex);
    expect(sha256(detailA.manifest.toString('utf8'))).toBe(L.records[aSeq]!.chained.record.manifest.sha256);
    expect(detailA.entry).toHaveLength(1);
  });

  it('verifies, and claims the entry', () => {
    const claims = checkProof(asJson(proofA()), key);
    expect(claims.record).toEqual(L.records[aSeq]!.chained);
    expect(claims.entry).toEqual([JSON.parse(detailA.entry[0]!)]);
    expect(claims.entry).toEqual([expect.objectContaining({ path: 'docs/a.txt', size: TEXT.length })]);
    expect(checkProof(asJson(L.inclusion(aSeq, 13, lastA)), key).entry).toEqual([
      expect.objectContaining({ path: 'docs/z.txt' }),
    ]);
    expect(checkProof(asJson(L.inclusion(bSeq, 13, detailB)), key).entry).toEqual([
      expect.objectContaining({ path: 'docs/a.txt' }),
    ]);
  });

  it('an altered entry line throws', () => {
    const line = detailA.entry[0]!;
    for (const edited of [
      line.replace('"docs/a.txt"', '"docs/A.txt"'),
      line.replace(`"size":${TEXT.length}`, `"size":${TEXT.length + 1}`),
      `${line} `,
      line.replace(/"contentHash":"[0-9a-f]{64}"/, `"contentHash":"${sha256('other')}"`),
    ]) {
      expect(edited).not.toBe(line);
      expect(invalidProof(() => checkProof(asJson(proofA({ ...detailA, entry: [edited] })), key)).message).toBe(
        'an entry line is not in the segment',
      );
    }
  });

  it('an entry line of another segment, or of another snapshot, throws', () => {
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, entry: lastA.entry })), key));
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, entry: [...detailA.entry, ...lastA.entry] })), key));
    const newTxt = detailNew.entry[0]!;
    expect(newTxt).toContain('"docs/new.txt"');
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, entry: [newTxt] })), key));
  });

  it('an altered segment, or another segment, throws', () => {
    const segment = detailA.segment.toString('utf8');
    const altered = Buffer.from(segment.replace('"docs/a.txt"', '"docs/x.txt"'));
    expect(invalidProof(() => checkProof(asJson(proofA({ ...detailA, segment: altered })), key)).message).toBe(
      `segment ${detailA.segmentIndex} is not the one the manifest commits to`,
    );
    // The altered entry in the altered segment: the segment's hash still gives it away.
    const alteredEntry = detailA.entry[0]!.replace('"docs/a.txt"', '"docs/x.txt"');
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, segment: altered, entry: [alteredEntry] })), key));
    // The right segment under another index, another segment under this index.
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, segmentIndex: lastA.segmentIndex })), key));
    invalidProof(() => checkProof(asJson(proofA({ ...lastA, segmentIndex: detailA.segmentIndex })), key));
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, segmentIndex: segmentCount })), key));
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, segment: Buffer.from(`${segment}\n`) })), key));
  });

  it('an altered manifest, or another snapshot’s manifest, throws', () => {
    const manifest = detailA.manifest.toString('utf8');
    const altered = Buffer.from(manifest.replace(/"files":\d+/, '"files":999'));
    expect(altered.equals(detailA.manifest)).toBe(false);
    expect(invalidProof(() => checkProof(asJson(proofA({ ...detailA, manifest: altered })), key)).message).toBe(
      "the manifest's SHA-256 is not the one the record commits to",
    );
    // Re-serialised with the same content: other bytes, so another hash.
    const reformatted = Buffer.from(JSON.stringify(JSON.parse(manifest), null, 1));
    invalidProof(() => checkProof(asJson(proofA({ ...detailA, manifest: reformatted })), key));
    // Snapshot b's manifest, segment and entry, under snapshot a's record.
    invalidProof(() => checkProof(asJson(proofA(detailB)), key));
  });

  it('a manifest without segment and entry throws; without the whole detail it proves the record only', () => {
    const proof = asJson(proofA()) as InclusionProof;
    const { segment: _s, segmentIndex: _i, entry: _e, ...manifestOnly } = proof;
    expect(invalidProof(() => checkProof(manifestOnly, key)).message).toBe(
      'the proof has a manifest but no segment and entry',
    );
    invalidProof(() => checkProof({ ...proof, entry: [] }, key));
    // '' is a "line" of every segment (they end with a newline), but not an entry.
    expect(invalidProof(() => checkProof({ ...proof, entry: [''] }, key)).message).toBe('an entry line is not JSON');
    const { manifest: _m, ...recordOnly } = manifestOnly;
    expect(checkProof(recordOnly, key).entry).toBeUndefined();
    // Segment and entry without the manifest: nothing ties them to the record, so not an "OK".
    const { manifest: _m2, ...detailWithoutManifest } = proof;
    expect(invalidProof(() => checkProof(detailWithoutManifest, key)).message).toBe(
      'the proof has a segment or entry but no manifest',
    );
    const { manifest: _m3, segment: _s3, segmentIndex: _i3, ...entryOnly } = proof;
    invalidProof(() => checkProof(entryOnly, key));
  });

  it('any one-character change to a file proof throws', () => {
    const proof = asJson(proofA()) as Json;
    // Removing manifest, segmentIndex, segment and entry together leaves a valid record proof (above).
    const { tried, passed } = mutate(proof, { middle: 48 });
    expect(passed).toEqual([]);
    expect(tried).toBeGreaterThan(2500);
  });
});

describe('change version proofs', () => {
  it('prove one version of a change batch, and fail when it is altered', async () => {
    const changes = new ChangeRepo();
    const batch = (await changes.commitBatch(
      'proof-batch',
      [upsert('k1', 1, { n: 1 }), upsert('k2', 2, { n: 2 }), upsert('k1', 3, { n: 3 })],
      { firstOffset: 40 },
    ))!;
    const items = Array.from({ length: 5 }, (_, i) => filler(i));
    items.push({ type: 'changes-commit', record: batch });
    const L = buildLedger(items);
    const detail = await detailOf(changes.store, L.records[5]!, (e) => e.key === 'k1' && e.offset === '42');
    const proof = asJson(L.inclusion(5, 6, detail)) as InclusionProof;
    expect(checkProof(proof, key).entry).toEqual([expect.objectContaining({ key: 'k1', offset: '42', op: 'upsert' })]);
    const line = proof.entry![0]!;
    invalidProof(() => checkProof({ ...proof, entry: [line.replace('"offset":"42"', '"offset":"43"')] }, key));
    invalidProof(() => checkProof({ ...proof, segment: `${proof.segment!} ` }, key));
    invalidProof(() =>
      checkProof({ ...proof, manifest: proof.manifest!.replace('"versionCount":3', '"versionCount":4') }, key),
    );
  });
});
