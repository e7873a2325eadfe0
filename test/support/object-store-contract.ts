import { ObjectNotFoundError, ObjectTooLargeError, type ObjectStore } from '../../libs/store';

/**
 * What every ObjectStore adapter does with GetOptions.maxBytes, as one suite: the memory
 * store's unit test and the S3 store's integration test (test/security) both run it.
 * `prefix` keeps the keys of one run apart on a shared bucket.
 */
export function describeGetBound(name: string, makeStore: () => ObjectStore, prefix = ''): void {
  describe(`${name}: get with maxBytes`, () => {
    const key = `${prefix}bound/object`;
    const body = Buffer.alloc(1000, 7);

    it('returns an object of at most maxBytes whole', async () => {
      const store = makeStore();
      await store.put(key, body);
      expect((await store.get(key, { maxBytes: 1000 })).equals(body)).toBe(true);
      expect((await store.get(key, { maxBytes: 5000 })).equals(body)).toBe(true);
      expect((await store.get(key)).equals(body)).toBe(true);
    });

    it('refuses an object larger than maxBytes with ObjectTooLargeError (BLOCK_CORRUPT, not retriable)', async () => {
      const store = makeStore();
      await store.put(key, body);
      const err = await store.get(key, { maxBytes: 999 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ObjectTooLargeError);
      expect((err as ObjectTooLargeError).code).toBe('BLOCK_CORRUPT');
      expect((err as ObjectTooLargeError).retriable).toBe(false);
    });

    it('returns an empty object under any bound, and ObjectNotFoundError for an absent one', async () => {
      const store = makeStore();
      await store.put(`${key}-empty`, Buffer.alloc(0));
      expect((await store.get(`${key}-empty`, { maxBytes: 10 })).length).toBe(0);
      await expect(store.get(`${key}-absent`, { maxBytes: 10 })).rejects.toBeInstanceOf(ObjectNotFoundError);
    });
  });
}
