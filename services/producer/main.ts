import { S3StagedObjects, runIngest } from '../../libs/ingest';
import { openTrustedLedger, type ServiceContext, type Stoppable } from '../../libs/runtime';

/**
 * producer (service): change topics → change batches through the chunk pipeline → one
 * ledger record per batch. (`backstream backup` is the producer of file snapshots.)
 */
export function startProducer(ctx: ServiceContext): Promise<Stoppable> {
  const { config } = ctx;
  return runIngest({
    kafka: ctx.kafka,
    producer: ctx.producer,
    config,
    store: ctx.store,
    gear: ctx.gear,
    staged: new S3StagedObjects(ctx.s3, config.s3.bucket, config.s3.prefix),
    // Which change-topic offsets are committed: only what the ledger key signed says so.
    ledger: openTrustedLedger(config, ctx.kafka, ctx.logger),
    logger: ctx.logger,
    health: ctx.health,
  });
}
