import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { S3Client } from '@aws-sdk/client-s3';
import { ATTR_ERROR_TYPE, ATTR_RPC_METHOD, ATTR_RPC_SYSTEM_NAME } from '@opentelemetry/semantic-conventions';
import { ATTR_AWS_S3_BUCKET, ATTR_AWS_S3_KEY } from '@opentelemetry/semantic-conventions/incubating';
import { backstreamMetrics } from './metrics';
import { tracer } from './messaging';
import { tracingEnabled } from './state';

interface S3Input {
  Bucket?: unknown;
  Key?: unknown;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** "503", "TimeoutError": what kind of failure, for a metric label. */
function errorType(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined) return String(status);
  return err instanceof Error ? err.name : 'Error';
}

/**
 * Answers the pipeline expects and acts on — a HEAD of a block not stored yet (404), a
 * create-only put of a block that exists (412) — are outcomes, not errors.
 */
function expectedOutcome(err: unknown): 'not_found' | 'exists' | undefined {
  const status = statusOf(err);
  if (status === 404) return 'not_found';
  if (status === 412) return 'exists';
  return undefined;
}

/**
 * Times every request of an S3 client, SDK retries included (the middleware sits at the
 * initialize step, above the retry middleware), into backstream.s3.request.duration and
 * .errors, and with tracing on wraps it in a CLIENT span `S3.<Operation>` under the active
 * span (the processing of a chunk, say).
 */
export function instrumentS3Client(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next, ctx) => async (args) => {
      const operation = (ctx.commandName ?? 'Unknown').replace(/Command$/, '');
      const started = performance.now();
      const input = args.input as S3Input;
      const span = tracingEnabled()
        ? tracer.startSpan(`S3.${operation}`, {
            kind: SpanKind.CLIENT,
            attributes: {
              [ATTR_RPC_SYSTEM_NAME]: 'aws-api',
              [ATTR_RPC_METHOD]: `S3/${operation}`,
              ...(typeof input.Bucket === 'string' ? { [ATTR_AWS_S3_BUCKET]: input.Bucket } : {}),
              ...(typeof input.Key === 'string' ? { [ATTR_AWS_S3_KEY]: input.Key } : {}),
            },
          })
        : undefined;
      const m = backstreamMetrics();
      try {
        const out = span
          ? await context.with(trace.setSpan(context.active(), span), () => next(args))
          : await next(args);
        m.s3RequestDuration.record((performance.now() - started) / 1000, { operation, outcome: 'ok' });
        return out;
      } catch (err) {
        const expected = expectedOutcome(err);
        m.s3RequestDuration.record((performance.now() - started) / 1000, { operation, outcome: expected ?? 'error' });
        if (expected) throw err;
        const type = errorType(err);
        m.s3RequestErrors.add(1, { operation, [ATTR_ERROR_TYPE]: type });
        span?.setStatus({ code: SpanStatusCode.ERROR, message: type });
        span?.setAttribute(ATTR_ERROR_TYPE, type);
        throw err;
      } finally {
        span?.end();
      }
    },
    { step: 'initialize', name: 'backstreamTelemetry' },
  );
  return client;
}
