/**
 * Per-object cost of the object store: PUT then GET N objects of a given size with the
 * configured concurrency, through the same S3ObjectStore the services use. Answers whether
 * packing small chunks into larger objects would pay: compare objects/s across sizes.
 *   node dist/test/bench/object-cost.js   (BACKSTREAM_* settings of the target store)
 */
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { loadConfig, requireSettings } from '../../libs/config';
import { S3ObjectStore, createS3Client, ensureBucket } from '../../libs/store';

async function main(): Promise<void> {
  const { config } = loadConfig();
  requireSettings(config, ['s3.bucket']);
  const s3 = createS3Client(config.s3);
  await ensureBucket(s3, config.s3.bucket);
  const store = new S3ObjectStore(s3, config.s3.bucket, `${config.s3.prefix}object-cost/`);
  const limit = pLimit(config.store.concurrency);
  const rows: string[] = [
    '| object size | objects | PUT objects/s | PUT MB/s | GET objects/s | GET MB/s |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [size, count] of [
    [16 * 1024, 2000],
    [256 * 1024, 500],
    [1024 * 1024, 300],
    [8 * 1024 * 1024, 40],
  ] as const) {
    const body = randomBytes(size);
    const run = async (op: (i: number) => Promise<unknown>): Promise<number> => {
      const t = process.hrtime.bigint();
      await Promise.all(Array.from({ length: count }, (_, i) => limit(() => op(i))));
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    const put = await run((i) => store.put(`${size}/${i}`, body));
    const get = await run((i) => store.get(`${size}/${i}`));
    rows.push(
      `| ${size / 1024} KiB | ${count} | ${(count / put).toFixed(0)} | ${((count * size) / 1e6 / put).toFixed(1)} | ${(count / get).toFixed(0)} | ${((count * size) / 1e6 / get).toFixed(1)} |`,
    );
    for (let i = 0; i < count; i++) await store.delete(`${size}/${i}`);
  }
  s3.destroy();
  process.stdout.write(`concurrency ${config.store.concurrency}\n${rows.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
