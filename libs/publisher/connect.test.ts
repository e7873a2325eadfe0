import { loadConfig } from '../config';
import { ConfigError } from '../errors';
import { connectChangePublisher } from './connect';

// Connecting for real is for an integration test; these fail before anything connects.
describe('connectChangePublisher', () => {
  const env = { BACKSTREAM_KAFKA_BROKERS: '127.0.0.1:1', BACKSTREAM_S3_BUCKET: 'backstream' };

  it('needs kafka.brokers and s3.bucket', async () => {
    const { config } = loadConfig({ env: { BACKSTREAM_S3_BUCKET: 'backstream' } });
    await expect(connectChangePublisher(config, { topic: 'crm.changes', source: 'crm.customers' })).rejects.toThrow(
      /kafka\.brokers is not set/,
    );
  });

  it('checks the publisher options before it connects', async () => {
    const { config } = loadConfig({ env });
    await expect(connectChangePublisher(config, { topic: 'crm.changes', source: 'crm customers' })).rejects.toThrow(
      ConfigError,
    );
  });
});
