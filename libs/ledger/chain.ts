import { BackstreamError } from '../errors';
import {
  HEADERS,
  SCHEMA_VERSION,
  type ChainedLedgerRecord,
  type LedgerCheckpoint,
  type LedgerRecord,
  type OutgoingMessage,
} from '../events';
import { MerkleFrontier, leafHash } from '../merkle';
import type { LedgerSigningKey } from './signing';

/** The `prev` of the first record. */
export const GENESIS_PREV = '0'.repeat(64);

/** A record or checkpoint as written: the exact value bytes and their signature. */
export interface SignedValue {
  value: Buffer;
  signature: string;
}

export interface SealedRecord extends SignedValue {
  chained: ChainedLedgerRecord;
}

export interface SealedCheckpoint extends SignedValue {
  checkpoint: LedgerCheckpoint;
}

/** The value of a chained record. Field order is fixed here; readers hash the bytes as they are, never re-serialise. */
function recordValue(seq: number, prev: string, item: LedgerRecord): { chained: ChainedLedgerRecord; value: Buffer } {
  const chained = { seq, prev, type: item.type, record: item.record } as ChainedLedgerRecord;
  return { chained, value: Buffer.from(JSON.stringify(chained)) };
}

export function checkpointValue(checkpoint: LedgerCheckpoint): Buffer {
  const { treeSize, root, time, keyId } = checkpoint;
  return Buffer.from(JSON.stringify({ treeSize, root, time, keyId }));
}

/** The ledger-topic message of a record or checkpoint (key: the snapshot id, or `checkpoint`). */
export function ledgerMessage(sealed: SealedRecord | SealedCheckpoint): OutgoingMessage {
  const isRecord = 'chained' in sealed;
  return {
    key: isRecord ? sealed.chained.record.snapshotId : 'checkpoint',
    value: sealed.value,
    headers: {
      [HEADERS.type]: isRecord ? 'ledger-record' : 'ledger-checkpoint',
      [HEADERS.version]: String(SCHEMA_VERSION),
      [HEADERS.signature]: sealed.signature,
    },
  };
}

/**
 * The head of the ledger as its one writer, the sequencer, sees it: the next sequence
 * number, the hash to chain to, the Merkle frontier and the ids committed. Pure: it is
 * rebuilt by `accept`ing the ledger's records and advanced by `append`.
 */
export class LedgerChain {
  private nextSeq = 0;
  private prevHash = GENESIS_PREV;
  private readonly frontier = MerkleFrontier.empty();
  /** The leaf hash (hex) of each committed id's record, to tell a repeat from a fork. */
  private readonly ids = new Map<string, string>();

  get size(): number {
    return this.nextSeq;
  }

  get head(): string {
    return this.prevHash;
  }

  root(): string {
    return this.frontier.root().toString('hex');
  }

  has(snapshotId: string): boolean {
    return this.ids.has(snapshotId);
  }

  /**
   * Takes a record read back from the ledger (signature already checked by the caller).
   * A byte-identical repeat of a record already accepted (re-produced by anyone with write
   * access to the topic) changes nothing and returns 'repeat'. Throws LEDGER_INCONSISTENT
   * when it does not continue the chain — a gap, or another signed record for a seq already
   * taken (a fork): the sequencer must not append to a ledger it cannot extend; `ledger
   * verify` says what is wrong.
   */
  accept(value: Buffer, chained: ChainedLedgerRecord, where: string): 'accepted' | 'repeat' {
    if (chained.seq < this.nextSeq && this.ids.get(chained.record.snapshotId) === leafHash(value).toString('hex')) {
      return 'repeat';
    }
    if (chained.seq !== this.nextSeq || chained.prev !== this.prevHash) {
      throw new BackstreamError(
        'LEDGER_INCONSISTENT',
        `${where}: signed record seq ${chained.seq} does not continue the chain (expected seq ${this.nextSeq}, prev ${this.prevHash.slice(0, 16)}…)`,
        { retriable: false, hint: 'run `backstream ledger verify` to see what is wrong with the ledger' },
      );
    }
    this.advance(value, chained.record.snapshotId);
    return 'accepted';
  }

  /** Chains and signs the commit record of an intent; undefined when its id is already committed. */
  append(item: LedgerRecord, signer: LedgerSigningKey): SealedRecord | undefined {
    if (this.ids.has(item.record.snapshotId)) return undefined;
    const { chained, value } = recordValue(this.nextSeq, this.prevHash, item);
    const signature = signer.sign(value);
    this.advance(value, item.record.snapshotId);
    return { chained, value, signature };
  }

  /** A signed checkpoint of the records so far, at event time `time`. */
  checkpoint(time: string, signer: LedgerSigningKey): SealedCheckpoint {
    const checkpoint: LedgerCheckpoint = {
      treeSize: this.nextSeq,
      root: this.root(),
      time,
      keyId: signer.verifying.keyId,
    };
    const value = checkpointValue(checkpoint);
    return { checkpoint, value, signature: signer.sign(value) };
  }

  private advance(value: Buffer, snapshotId: string): void {
    const leaf = leafHash(value);
    this.frontier.append(leaf);
    this.prevHash = leaf.toString('hex');
    this.nextSeq += 1;
    // The first record of an id stays: a later one with that id is not what a repeat matches.
    if (!this.ids.has(snapshotId)) this.ids.set(snapshotId, this.prevHash);
  }
}
