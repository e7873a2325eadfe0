import type { BackstreamConfig } from '../config';
import { BackstreamError, describeError } from '../errors';
import { createKafka } from '../bus';
import { createS3Client } from '../store';
import { Readiness, probeKafka, probeStore, startHealthServer } from '../health';
import { createLogger, type Logger } from '../log';
import { startTelemetry } from '../telemetry';
import { closeServiceContext, openServiceContext, type ServiceContext, type Stoppable } from './service';

export type ServiceStarter = (ctx: ServiceContext) => Promise<Stoppable>;

/** How a service run ended: the process exit code. */
export const SERVICE_EXIT = {
  /** Stopped by a signal, everything finished and committed. */
  stopped: 0,
  /** The grace period ran out: in-flight work was abandoned uncommitted (it is redelivered). */
  abandoned: 1,
} as const;

/** Time kept back from the grace period to flush telemetry and logs after stopping. */
const EXIT_RESERVE_MS = 1500;
const STORE_PROBE_INTERVAL_MS = 15000;
const PROBE_TIMEOUT_MS = 5000;

/** The first SIGTERM or SIGINT; a second SIGINT (Ctrl-C twice) exits at once. */
class ShutdownSignal {
  readonly received: Promise<NodeJS.Signals>;
  private seen: NodeJS.Signals | undefined;

  constructor(logger: Logger) {
    this.received = new Promise((resolve) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        if (this.seen === undefined) {
          this.seen = signal;
          logger.info({ signal }, 'stopping');
          resolve(signal);
        } else if (signal === 'SIGINT') {
          logger.warn({ signal }, 'second interrupt: exiting now; work in flight is not committed');
          process.exit(130);
        } else {
          logger.info({ signal }, 'already stopping');
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
  }

  get signalled(): boolean {
    return this.seen !== undefined;
  }
}

function sleep(ms: number, until?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    void until?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Connects the service, waiting for Kafka and the store as long as it takes (a pod may
 * start before its broker): cheap probes first, then the full context. Settings that can
 * never work (a ConfigError, a wrong key) fail at once. Undefined when a signal came first.
 */
async function connectPatiently(
  name: string,
  config: BackstreamConfig,
  logger: Logger,
  readiness: Readiness,
  shutdown: ShutdownSignal,
): Promise<ServiceContext | undefined> {
  const probeKafkaClient = createKafka(config.kafka, { clientSuffix: `${name}-probe`, retries: 0 });
  for (let attempt = 1; !shutdown.signalled; attempt += 1) {
    const s3 = createS3Client(config.s3);
    let reason: string;
    try {
      const [kafka, store] = await Promise.all([
        probeKafka(probeKafkaClient, PROBE_TIMEOUT_MS),
        probeStore(s3, config.s3.bucket, PROBE_TIMEOUT_MS),
      ]);
      readiness.set('kafka', kafka.ok, kafka.detail);
      readiness.set('store', store.ok, store.detail);
      if (kafka.ok && store.ok) {
        readiness.set('startup', false, 'connecting the service');
        const ctx = await openServiceContext(name, config, logger, readiness);
        readiness.delete('kafka');
        return ctx;
      }
      reason = [kafka, store]
        .filter((p) => !p.ok)
        .map((p) => `${p.dependency}: ${p.detail}`)
        .join('; ');
    } catch (err) {
      if (err instanceof BackstreamError && !err.retriable) throw err;
      reason = describeError(err);
    } finally {
      s3.destroy();
    }
    const waitMs = Math.min(10000, 500 * 2 ** Math.min(attempt, 5));
    readiness.set('startup', false, `waiting for dependencies (attempt ${attempt}): ${reason}`);
    logger.warn({ attempt, retryInMs: waitMs, reason }, 'dependencies not reachable yet; retrying');
    await sleep(waitMs, shutdown.received);
  }
  return undefined;
}

/**
 * Runs one long-lived service as an orchestrator expects: telemetry and the health server
 * first (alive at once, ready once connected and in its consumer group), the service until
 * SIGTERM or SIGINT, then a graceful stop within shutdown.gracePeriodMs: not ready any
 * more, stop fetching, finish or abandon the batch in flight — offsets are committed only
 * for work whose effects are durable, so abandoning loses nothing — commit, disconnect.
 * Returns the exit code.
 */
export async function runService(name: string, config: BackstreamConfig, start: ServiceStarter): Promise<number> {
  const logger = createLogger(config.log.level, name);
  const telemetry = startTelemetry(config.telemetry, { service: name, serveMetrics: true, logger });
  const readiness = new Readiness();
  readiness.set('startup', false, 'starting');
  const shutdown = new ShutdownSignal(logger);
  const health = await startHealthServer({
    port: config.health.port,
    host: config.health.host,
    readiness,
    metrics: telemetry.metricsHandler,
  });
  logger.info(
    { port: health.port, tracing: telemetry.tracing, metrics: telemetry.metricsHandler !== undefined },
    'health server listening',
  );
  let storeProbe: NodeJS.Timeout | undefined;
  let deadline = Number.POSITIVE_INFINITY;
  try {
    const ctx = await connectPatiently(name, config, logger, readiness, shutdown);
    if (!ctx) return SERVICE_EXIT.stopped;
    let running: Stoppable;
    try {
      running = await start(ctx);
    } catch (err) {
      await closeServiceContext(ctx);
      throw err;
    }
    readiness.delete('startup');
    // The consumers report Kafka; the store is asked now and then.
    storeProbe = setInterval(() => {
      void probeStore(ctx.s3, config.s3.bucket, PROBE_TIMEOUT_MS).then((p) => readiness.set('store', p.ok, p.detail));
    }, STORE_PROBE_INTERVAL_MS);
    storeProbe.unref();
    logger.info('service started');

    const signal = await shutdown.received;
    deadline = Date.now() + config.shutdown.gracePeriodMs;
    readiness.set('shutdown', false, `stopping on ${signal}`);
    clearInterval(storeProbe);
    const stopBy = deadline - EXIT_RESERVE_MS;
    const stopped = running.stop(stopBy).then(
      () => 'stopped' as const,
      (err: unknown) => {
        logger.error({ err: describeError(err) }, 'error while stopping');
        return 'stopped' as const;
      },
    );
    const outcome = await Promise.race([stopped, sleep(stopBy - Date.now()).then(() => 'grace' as const)]);
    if (outcome === 'grace') {
      logger.warn(
        { gracePeriodMs: config.shutdown.gracePeriodMs },
        'grace period over: abandoning the work in flight; it was not committed and will be redelivered',
      );
      return SERVICE_EXIT.abandoned;
    }
    await closeServiceContext(ctx);
    logger.info({ tookMs: config.shutdown.gracePeriodMs - (deadline - Date.now()) }, 'stopped');
    return SERVICE_EXIT.stopped;
  } finally {
    clearInterval(storeProbe);
    await health.close();
    await telemetry.shutdown(Math.min(EXIT_RESERVE_MS - 500, Math.max(0, deadline - Date.now() - 200)));
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
  }
}
