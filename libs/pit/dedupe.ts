/**
 * "Exactly one version per distinct event": an upstream may publish one event twice
 * (Debezium re-emitting after a connector restart, a retried send, an outbox replay); the
 * copies land at other offsets with the same identity (libs/changes changeId). Given a
 * key's versions in time order (timeOrder), a version whose id equals the id of the
 * version right before it is such a copy and is dropped.
 *
 * Only the adjacent version is compared, never every id ever seen: a key set to A, then B,
 * then A again within one millisecond (so that the two ids are equal) has three versions,
 * and dropping the third would leave B as the state. In time order a late copy sits next
 * to its original (same tsMs), unless another version of the key has that very tsMs and
 * came between them in the log: then it cannot be told from a genuine A, B, A and is kept.
 * Memory: one id per distinct key.
 */
export class AdjacentDedupe {
  private readonly latest = new Map<string, string>();
  /** Versions dropped as copies of their predecessor. */
  dropped = 0;

  /** True when the version is kept (and becomes its key's latest), false for a copy. */
  accept(version: { source: string; key: string; id: string }): boolean {
    const k = `${version.source}\u0000${version.key}`;
    if (this.latest.get(k) === version.id) {
      this.dropped += 1;
      return false;
    }
    this.latest.set(k, version.id);
    return true;
  }
}

/** Versions given in log order, by tsMs; equal times keep their log order (a stable sort). */
export function timeOrder<T extends { tsMs: number }>(versions: readonly T[]): T[] {
  return [...versions].sort((a, b) => a.tsMs - b.tsMs);
}

/** The versions of `versions` (in the order given) that AdjacentDedupe keeps, in order. */
export function dedupeAdjacent<T extends { source: string; key: string; id: string }>(versions: Iterable<T>): T[] {
  const dedupe = new AdjacentDedupe();
  return [...versions].filter((v) => dedupe.accept(v));
}

/** One key's history from its versions in log order: time order, each distinct event once. */
export function distinctVersions<T extends { source: string; key: string; id: string; tsMs: number }>(
  versions: readonly T[],
): T[] {
  return dedupeAdjacent(timeOrder(versions));
}
