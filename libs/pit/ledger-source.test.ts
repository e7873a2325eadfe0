import { pullEntries } from './ledger-source';

const tick = () => new Promise((r) => setImmediate(r));

describe('pullEntries', () => {
  it('yields what the producer pushes, in order, holding it back beyond the high-water mark', async () => {
    let pushed = 0;
    const items = pullEntries<number>(async (push) => {
      for (let i = 0; i < 10; i++) {
        await push(i);
        pushed += 1;
      }
    }, 3);
    const it = items[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 0, done: false });
    await tick();
    await tick();
    expect(pushed).toBeLessThanOrEqual(4);
    const rest: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("throws the producer's error after the items pushed before it", async () => {
    const seen: number[] = [];
    const run = async () => {
      for await (const n of pullEntries<number>(async (push) => {
        await push(1);
        await push(2);
        throw new Error('ledger gone');
      }))
        seen.push(n);
    };
    await expect(run()).rejects.toThrow('ledger gone');
    expect(seen).toEqual([1, 2]);
  });

  it('ends the producer when the consumer stops early, and waits for it', async () => {
    let ended: string | undefined;
    const items = pullEntries<number>(async (push) => {
      try {
        for (let i = 0; ; i++) await push(i);
      } catch (err) {
        ended = (err as Error).message;
        throw err;
      }
    }, 2);
    for await (const n of items) if (n === 5) break;
    expect(ended).toBe('the consumer stopped reading');
  });

  it('ends at once when nothing is pushed', async () => {
    const out: number[] = [];
    for await (const n of pullEntries<number>(() => Promise.resolve())) out.push(n);
    expect(out).toEqual([]);
  });
});
