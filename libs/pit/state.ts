import { compareKeys, versionKey, type CommittedVersion } from './version';

/**
 * The state of every key at one moment, built from the committed versions in log order
 * (ledger order, which is offset order within a change topic partition):
 *
 *   the state of a key at T is its version with the greatest tsMs <= T, and among
 *   versions with that same tsMs the last in the log; a key whose state is a delete, or
 *   that has no version by T, is absent.
 *
 * Time decides, the log breaks ties: two changes within one millisecond (or one second,
 * for MySQL binlog timestamps) resolve to the one published later. An event delivered
 * again long after (a connector restart, an outbox replay) has its original tsMs, so it
 * cannot displace the newer versions published in between: it lands beside its first copy
 * (see AdjacentDedupe), which is the same change. The same holds for a genuine change that
 * arrives late with an earlier time: it is the state from its time until the next one.
 *
 * Memory: one entry per key with a version at or before T (a delete kept as a marker,
 * since an older version arriving later must not bring the key back), holding source,
 * key, id, time, coordinates and the payload's size, hash and chunk list; never payload
 * bytes. It grows with the number of distinct keys, not with the length of the history or
 * the size of payloads.
 */
export class StateBuilder {
  private readonly latest = new Map<string, CommittedVersion | { op: 'delete'; tsMs: number }>();
  /** Versions read, and those after the moment (ignored). */
  versions = 0;
  later = 0;

  constructor(readonly atMs: number) {}

  add(version: CommittedVersion): void {
    this.versions += 1;
    if (version.tsMs > this.atMs) {
      this.later += 1;
      return;
    }
    const k = versionKey(version);
    const current = this.latest.get(k);
    if (current !== undefined && current.tsMs > version.tsMs) return;
    this.latest.set(k, version.op === 'delete' ? { op: 'delete', tsMs: version.tsMs } : version);
  }

  /** Keys with a version at or before the moment: live or deleted. */
  get keysSeen(): number {
    return this.latest.size;
  }

  /** The versions live at the moment, by source and then key (see compareKeys). */
  sorted(): CommittedVersion[] {
    const live: CommittedVersion[] = [];
    for (const v of this.latest.values()) if ('key' in v) live.push(v);
    return live.sort(compareKeys);
  }
}
