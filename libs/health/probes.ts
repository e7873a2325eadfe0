import { HeadBucketCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import { describeError, withTimeout } from '../errors';
import { httpStatusOf } from '../store';

export interface ProbeResult {
  dependency: 'kafka' | 's3';
  ok: boolean;
  /** Milliseconds the probe took. */
  ms: number;
  /** What answered (broker count, bucket count) or why it failed. */
  detail: string;
}

/** A real metadata request to the cluster: connects an admin client and describes the cluster. */
export async function probeKafka(kafka: Kafka, timeoutMs: number): Promise<ProbeResult> {
  const started = Date.now();
  const admin = kafka.admin();
  try {
    const cluster = await withTimeout(
      (async () => {
        await admin.connect();
        return admin.describeCluster();
      })(),
      timeoutMs,
      () => new Error(`Kafka did not answer within ${timeoutMs} ms`),
    );
    return {
      dependency: 'kafka',
      ok: true,
      ms: Date.now() - started,
      detail: `${cluster.brokers.length} broker(s), controller ${cluster.controller ?? 'unknown'}, cluster ${cluster.clusterId}`,
    };
  } catch (err) {
    return { dependency: 'kafka', ok: false, ms: Date.now() - started, detail: describeError(err) };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** A real authenticated S3 request: ListBuckets, and HeadBucket when a bucket is configured. */
export async function probeStore(s3: S3Client, bucket: string, timeoutMs: number): Promise<ProbeResult> {
  const started = Date.now();
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    const list = await s3.send(new ListBucketsCommand({}), { abortSignal: signal });
    let detail = `${list.Buckets?.length ?? 0} bucket(s) visible`;
    if (bucket !== '') {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
        detail += `, bucket ${bucket} reachable`;
      } catch (err) {
        const status = httpStatusOf(err);
        detail +=
          status === 404 ? `, bucket ${bucket} does not exist yet` : `, bucket ${bucket}: ${describeError(err)}`;
        if (status !== 404) return { dependency: 's3', ok: false, ms: Date.now() - started, detail };
      }
    }
    return { dependency: 's3', ok: true, ms: Date.now() - started, detail };
  } catch (err) {
    const name = (err as { name?: string }).name;
    const detail =
      name === 'TimeoutError' || name === 'AbortError'
        ? `S3 did not answer within ${timeoutMs} ms`
        : describeError(err);
    return { dependency: 's3', ok: false, ms: Date.now() - started, detail };
  }
}
