import { ledgerRecordOf, type LedgerCheckpoint, type LedgerRecord } from '../events';
import { GENESIS_PREV, type LedgerItem, type LedgerVerifyingKey } from '../ledger';
import { MerkleFrontier, MerkleTree, leafHash } from '../merkle';

export type LedgerFindingKind =
  | 'not-a-record'
  | 'unsigned'
  | 'bad-signature'
  | 'wrong-key'
  | 'duplicate'
  | 'conflict'
  | 'out-of-order'
  | 'missing'
  | 'broken-chain'
  | 'duplicate-id'
  | 'checkpoint-unsigned'
  | 'checkpoint-bad-signature'
  | 'checkpoint-beyond-records'
  | 'checkpoint-mismatch';

/** One thing wrong with the ledger, located: `at` is "offset N" (topic) or a mirror object. */
export interface LedgerFinding {
  kind: LedgerFindingKind;
  at: string;
  offset?: string;
  seq?: number;
  snapshotId?: string;
  message: string;
}

/** A record that verified: signed by the key, in its place in the chain. */
export interface AcceptedRecord {
  seq: number;
  at: string;
  offset?: string;
  item: LedgerRecord;
}

export interface LedgerChainSummary {
  records: number;
  checkpoints: number;
  /** The latest checkpoint that verified, if any. */
  lastCheckpoint?: LedgerCheckpoint;
  /** Records after the last verified checkpoint. */
  unsealed: number;
  head: string;
}

interface PendingCheckpoint {
  at: string;
  offset?: string;
  checkpoint: LedgerCheckpoint;
}

/**
 * Checks a ledger item by item, in order: every record's Ed25519 signature, its place in
 * the chain (seq without gaps, repeats or reordering; `prev` equal to the leaf hash of the
 * record before), and every checkpoint's signature and Merkle root. Findings name the item.
 * A reordered record is placed where its seq says, so that later checks still work; the
 * checkpoints are checked against the records in seq order.
 *
 * Memory: one 32-byte leaf hash per record (what proofs and deferred checkpoint checks need).
 */
export class LedgerChainVerifier {
  readonly findings: LedgerFinding[] = [];
  private readonly leaves: (Buffer | undefined)[] = [];
  private readonly prevOf: (string | undefined)[] = [];
  private readonly atOf: (string | undefined)[] = [];
  private readonly ids = new Map<string, number>();
  private maxSeq = -1;
  private checkpoints = 0;
  private lastCheckpoint: LedgerCheckpoint | undefined;
  /** Checkpoints whose range still had a hole when met (a record of it comes later, reordered): checked at finish. A checkpoint beyond the last seq seen is a finding at once. */
  private readonly deferred: PendingCheckpoint[] = [];
  /** Root of the contiguous prefix of leaves, kept as records arrive in order. */
  private readonly frontier = MerkleFrontier.empty();

  constructor(private readonly key: LedgerVerifyingKey) {}

  private find(f: LedgerFinding): void {
    this.findings.push(f);
  }

  /** Takes the next item; returns the record when it verified (to check its data next). */
  add(item: LedgerItem): AcceptedRecord | undefined {
    if (item.kind === 'invalid') {
      this.find({ kind: 'not-a-record', at: item.at, offset: item.offset, message: `${item.at}: ${item.reason}` });
      return undefined;
    }
    if (item.kind === 'checkpoint') {
      this.addCheckpoint(item);
      return undefined;
    }
    const { chained, value, signature, at, offset } = item;
    const seq = chained.seq;
    const id = chained.record.snapshotId;
    const where = { at, offset, seq, snapshotId: id };
    if (signature === undefined) {
      this.find({
        kind: 'unsigned',
        ...where,
        message: `${at}: record seq ${seq} (${id}) has no signature: the sequencer did not write it (forged?)`,
      });
      return undefined;
    }
    if (!this.key.verify(value, signature)) {
      this.find({
        kind: 'bad-signature',
        ...where,
        message: `${at}: record seq ${seq} (${id}) does not match its signature: altered or forged`,
      });
      return undefined;
    }
    const leaf = leafHash(value);
    const known = this.leaves[seq];
    if (known) {
      this.find(
        known.equals(leaf)
          ? { kind: 'duplicate', ...where, message: `${at}: record seq ${seq} (${id}) repeats ${this.atOf[seq]}` }
          : {
              kind: 'conflict',
              ...where,
              message: `${at}: a second, different signed record for seq ${seq} (first at ${this.atOf[seq]}): the chain forked`,
            },
      );
      return undefined;
    }
    if (seq < this.maxSeq) {
      this.find({
        kind: 'out-of-order',
        ...where,
        message: `${at}: record seq ${seq} (${id}) comes after seq ${this.maxSeq} (${this.atOf[this.maxSeq]}): reordered`,
      });
    }
    const before = this.leaves[seq - 1];
    const expectedPrev = seq === 0 ? GENESIS_PREV : before?.toString('hex');
    if (expectedPrev !== undefined && chained.prev !== expectedPrev) {
      this.find({
        kind: 'broken-chain',
        ...where,
        message: `${at}: record seq ${seq} (${id}) does not chain to record seq ${seq - 1} (${this.atOf[seq - 1]})`,
      });
    }
    const nextPrev = this.prevOf[seq + 1];
    if (nextPrev !== undefined && nextPrev !== leaf.toString('hex')) {
      this.find({
        kind: 'broken-chain',
        ...where,
        message: `${at}: record seq ${seq + 1} (${this.atOf[seq + 1]}) does not chain to this record seq ${seq}`,
      });
    }
    const firstSeqOfId = this.ids.get(id);
    if (firstSeqOfId !== undefined) {
      this.find({
        kind: 'duplicate-id',
        ...where,
        message: `${at}: ${id} was already committed by record seq ${firstSeqOfId}`,
      });
    } else this.ids.set(id, seq);
    this.leaves[seq] = leaf;
    this.prevOf[seq] = chained.prev;
    this.atOf[seq] = at;
    this.maxSeq = Math.max(this.maxSeq, seq);
    while (this.frontier.size < this.leaves.length && this.leaves[this.frontier.size]) {
      this.frontier.append(this.leaves[this.frontier.size] as Buffer);
    }
    return { seq, at, offset, item: ledgerRecordOf(chained) };
  }

  private addCheckpoint(item: Extract<LedgerItem, { kind: 'checkpoint' }>): void {
    const { checkpoint, at, offset } = item;
    const name = `checkpoint of size ${checkpoint.treeSize}`;
    if (item.signature === undefined) {
      this.find({ kind: 'checkpoint-unsigned', at, offset, message: `${at}: ${name} has no signature (forged?)` });
      return;
    }
    if (checkpoint.keyId !== this.key.keyId || !this.key.verify(item.value, item.signature)) {
      this.find({
        kind: 'checkpoint-bad-signature',
        at,
        offset,
        message: `${at}: ${name} does not verify with key ${this.key.keyId}${checkpoint.keyId !== this.key.keyId ? ` (it names key ${checkpoint.keyId})` : ''}: altered or forged`,
      });
      return;
    }
    this.checkpoints += 1;
    if (checkpoint.treeSize > this.maxSeq + 1) {
      this.find({
        kind: 'checkpoint-beyond-records',
        at,
        offset,
        message: `${at}: ${name} covers records up to seq ${checkpoint.treeSize - 1}, but the ledger has none after seq ${this.maxSeq} before it: records dropped`,
      });
      return;
    }
    if (checkpoint.treeSize === this.frontier.size) this.checkRoot({ at, offset, checkpoint }, this.frontier.root());
    else this.deferred.push({ at, offset, checkpoint });
  }

  private checkRoot(p: PendingCheckpoint, root: Buffer): void {
    if (root.toString('hex') !== p.checkpoint.root) {
      this.find({
        kind: 'checkpoint-mismatch',
        at: p.at,
        offset: p.offset,
        message: `${p.at}: checkpoint of size ${p.checkpoint.treeSize} signs root ${p.checkpoint.root.slice(0, 16)}…, the records hash to ${root.toString('hex').slice(0, 16)}…: a record it covers was changed, dropped or replaced`,
      });
      return;
    }
    if (!this.lastCheckpoint || p.checkpoint.treeSize >= this.lastCheckpoint.treeSize)
      this.lastCheckpoint = p.checkpoint;
  }

  /** Reports missing records and checks the deferred checkpoints. */
  finish(): LedgerChainSummary {
    let runStart: number | undefined;
    for (let seq = 0; seq <= this.maxSeq + 1; seq++) {
      const missing = seq <= this.maxSeq && !this.leaves[seq];
      if (missing && runStart === undefined) runStart = seq;
      if (!missing && runStart !== undefined) {
        const range = runStart === seq - 1 ? `seq ${runStart}` : `seqs ${runStart}…${seq - 1}`;
        this.find({
          kind: 'missing',
          at: this.atOf[seq] ?? 'end',
          seq: runStart,
          message: `record ${range} missing (dropped) before ${this.atOf[seq] ?? 'the end'}`,
        });
        runStart = undefined;
      }
    }
    if (this.deferred.length > 0) {
      const complete = this.leaves.findIndex((l) => !l);
      const contiguous = complete === -1 ? this.leaves.length : complete;
      const tree = new MerkleTree(this.leaves.slice(0, contiguous) as Buffer[]);
      for (const p of this.deferred) {
        // A checkpoint over missing records has its finding already ("missing").
        if (p.checkpoint.treeSize <= contiguous) this.checkRoot(p, tree.root(p.checkpoint.treeSize));
      }
    }
    const records = this.leaves.filter((l) => l !== undefined).length;
    return {
      records,
      checkpoints: this.checkpoints,
      ...(this.lastCheckpoint ? { lastCheckpoint: this.lastCheckpoint } : {}),
      unsealed: records - (this.lastCheckpoint?.treeSize ?? 0),
      head: this.frontier.size > 0 ? (this.leaves[this.frontier.size - 1] as Buffer).toString('hex') : GENESIS_PREV,
    };
  }

  /** The leaf hashes of the contiguous prefix (for proofs). */
  leafHashes(): Buffer[] {
    const end = this.leaves.findIndex((l) => !l);
    return this.leaves.slice(0, end === -1 ? this.leaves.length : end) as Buffer[];
  }
}
