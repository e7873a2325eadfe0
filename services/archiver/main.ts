import { runArchiver } from '../../libs/archive';
import { BlockEncoder } from '../../libs/blocks';
import { ConfigError } from '../../libs/errors';
import { loadSigningKey } from '../../libs/ledger';
import { openTrustedLedger, type ServiceContext, type Stoppable } from '../../libs/runtime';

/**
 * archiver: progress topic → file lists and manifests in the store → one commit intent per
 * snapshot; and the ledger sequencer: intents → signed, hash-chained ledger records.
 */
export function startArchiver(ctx: ServiceContext): Promise<Stoppable> {
  const signer = loadSigningKey(ctx.config.ledger);
  if (!signer) {
    throw new ConfigError('the archiver signs the ledger: set ledger.signingKey or ledger.signingKeyFile', {
      hint: '`backstream ledger keygen` makes a key pair',
    });
  }
  return runArchiver({
    kafka: ctx.kafka,
    producer: ctx.producer,
    config: ctx.config,
    store: ctx.store,
    encoder: new BlockEncoder(ctx.config.chunkWorker.compressionLevel),
    signer,
    // Its own key: what its sequencer signs is what its index believes.
    ledger: openTrustedLedger(ctx.config, ctx.kafka, ctx.logger, { key: signer.verifying }),
    logger: ctx.logger,
    health: ctx.health,
  });
}
