import { ObjectNotFoundError } from './errors';
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store';

/** An ObjectStore in a Map, for unit tests of the logic above the store. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();

  put(key: string, body: Buffer, options: PutOptions = {}): Promise<{ created: boolean }> {
    if (options.ifNoneMatch && this.objects.has(key)) return Promise.resolve({ created: false });
    this.objects.set(key, Buffer.from(body));
    return Promise.resolve({ created: true });
  }

  get(key: string): Promise<Buffer> {
    const body = this.objects.get(key);
    return body ? Promise.resolve(Buffer.from(body)) : Promise.reject(new ObjectNotFoundError(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    const body = this.objects.get(key);
    return Promise.resolve(body ? { key, size: body.length } : undefined);
  }

  delete(key: string): Promise<void> {
    this.objects.delete(key);
    return Promise.resolve();
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, body] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (key.startsWith(prefix)) yield { key, size: body.length };
    }
  }

  keepLocked(_info: ObjectInfo): Promise<void> {
    return Promise.resolve();
  }
}
