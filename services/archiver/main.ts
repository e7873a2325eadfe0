import { runArchiver } from '../../libs/archive';
import { BlockEncoder } from '../../libs/blocks';
import type { ServiceContext, Stoppable } from '../../libs/runtime';

/** archiver: progress topic → file lists and manifests in the store → one ledger record per snapshot. */
export function startArchiver(ctx: ServiceContext): Promise<Stoppable> {
  return runArchiver({
    kafka: ctx.kafka,
    producer: ctx.producer,
    config: ctx.config,
    store: ctx.store,
    encoder: new BlockEncoder(ctx.config.chunkWorker.compressionLevel),
    logger: ctx.logger,
  });
}
