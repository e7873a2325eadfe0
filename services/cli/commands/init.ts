import { Command } from 'commander';
import { createKafka } from '../../../libs/bus';
import { requireSettings } from '../../../libs/config';
import { ensureTopics } from '../../../libs/events';
import { initRepositoryKeys, loadMasterKey, openRepository } from '../../../libs/crypto';
import { S3ObjectStore, createS3Client, ensureBucket, objectLockPolicyOf } from '../../../libs/store';
import { loadCommandConfig, printJson } from '../context';

export function initCommand(): Command {
  return new Command('init')
    .description('create the bucket (if missing) and the topics: safe to run again at any time')
    .option('--json', 'print the result as one JSON line')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const { config } = loadCommandConfig(this);
      requireSettings(config, ['kafka.brokers', 's3.bucket']);
      const objectLock = objectLockPolicyOf(config.objectLock);
      const s3 = createS3Client(config.s3);
      const admin = createKafka(config.kafka, { clientSuffix: 'init' }).admin();
      try {
        const bucketCreated = await ensureBucket(s3, config.s3.bucket, { objectLock });
        // With a master key: create the key-check object (or check the key against it).
        // Without: fail if the repository is encrypted, before anything else is done.
        const raw = new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix, { objectLock });
        const masterKey = loadMasterKey(config.encryption);
        const encryption = masterKey ? await initRepositoryKeys(raw, masterKey) : 'none';
        if (!masterKey) await openRepository(raw, undefined);
        await admin.connect();
        const topics = await ensureTopics(admin, config);
        if (opts.json) printJson({ bucket: config.s3.bucket, bucketCreated, encryption, topics });
        else {
          process.stdout.write(`bucket ${config.s3.bucket}: ${bucketCreated ? 'created' : 'exists'}\n`);
          process.stdout.write(
            `encryption: ${{ none: 'none (no encryption.masterKey)', created: 'initialised with the master key', exists: 'the master key matches' }[encryption]}\n`,
          );
          for (const t of topics)
            process.stdout.write(`topic ${t.topic}: ${t.action}${t.warnings.map((w) => `; ${w}`).join('')}\n`);
        }
      } finally {
        await admin.disconnect();
        s3.destroy();
      }
    });
}

export function topicsCommand(): Command {
  const topics = new Command('topics').description('manage the Kafka topics backstream uses');
  topics
    .command('ensure')
    .description('create missing topics and bring their configs to the definitions (idempotent)')
    .option('--json', 'print one JSON line per topic')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const { config } = loadCommandConfig(this);
      requireSettings(config, ['kafka.brokers']);
      const admin = createKafka(config.kafka, { clientSuffix: 'topics' }).admin();
      await admin.connect();
      try {
        for (const t of await ensureTopics(admin, config)) {
          if (opts.json) printJson(t);
          else process.stdout.write(`${t.topic}: ${t.action}${t.warnings.map((w) => `; ${w}`).join('')}\n`);
        }
      } finally {
        await admin.disconnect();
      }
    });
  return topics;
}
