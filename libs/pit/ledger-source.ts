import { replayChangeCommits, type ChangesLedgerEntry, type LedgerSource, type ReplayOptions } from '../ledger';

/** Thrown into a producer whose consumer stopped pulling, to end it. */
class PullCancelled extends Error {
  constructor() {
    super('the consumer stopped reading');
  }
}

/**
 * Turns a callback-driven producer (`run` calls `push` for each item and awaits it) into
 * an async iterable with back-pressure: once `highWater` items wait, `push` waits until
 * the consumer takes one. When the consumer stops early (break, throw), the next `push`
 * throws, which ends `run`; iteration ends once `run` has settled, so nothing keeps
 * running behind the caller's back. An error of `run` is thrown to the consumer after the
 * items pushed before it.
 */
export async function* pullEntries<T>(
  run: (push: (item: T) => Promise<void>) => Promise<void>,
  highWater = 256,
): AsyncGenerator<T> {
  const queue: T[] = [];
  let finished = false;
  let failure: { err: unknown } | undefined;
  let cancelled = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const signal = (which: 'consumer' | 'producer'): void => {
    const wake = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeProducer = undefined;
    wake?.();
  };
  const push = async (item: T): Promise<void> => {
    if (cancelled) throw new PullCancelled();
    queue.push(item);
    signal('consumer');
    while (queue.length >= highWater && !cancelled) await new Promise<void>((r) => (wakeProducer = r));
    if (cancelled) throw new PullCancelled();
  };
  const running = Promise.resolve()
    .then(() => run(push))
    .then(
      () => undefined,
      (err: unknown) => {
        if (!cancelled) failure = { err };
      },
    )
    .finally(() => {
      finished = true;
      signal('consumer');
    });
  try {
    for (;;) {
      if (queue.length > 0) {
        const item = queue.shift() as T;
        signal('producer');
        yield item;
        continue;
      }
      if (failure) throw failure.err;
      if (finished) return;
      await new Promise<void>((r) => (wakeConsumer = r));
    }
  } finally {
    cancelled = true;
    signal('producer');
    await running;
  }
}

/** The ledger's change-batch commit records, in ledger order, replayed to the ledger's current end. */
export function ledgerChangeCommits(
  ledger: LedgerSource,
  options: ReplayOptions = {},
): AsyncIterable<ChangesLedgerEntry> {
  return pullEntries<ChangesLedgerEntry>((push) => replayChangeCommits(ledger, push, options));
}
