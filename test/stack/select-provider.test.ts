import { selectProvider } from './select-provider';

const external = { BACKSTREAM_TEST_KAFKA_BROKERS: 'k:9092', BACKSTREAM_TEST_S3_ENDPOINT: 'http://s3:9000' };
const docker = (answer: boolean) => jest.fn(() => Promise.resolve(answer));

describe('selectProvider', () => {
  it('uses external endpoints when both are set, without asking Docker', async () => {
    const ping = docker(true);
    await expect(selectProvider(external, ping)).resolves.toMatchObject({ name: 'external' });
    expect(ping).not.toHaveBeenCalled();
  });

  it('ignores a lone endpoint variable', async () => {
    await expect(selectProvider({ BACKSTREAM_TEST_KAFKA_BROKERS: 'k:9092' }, docker(false))).resolves.toMatchObject({
      name: 'local',
    });
  });

  it('uses testcontainers when a Docker engine answers', async () => {
    await expect(selectProvider({}, docker(true))).resolves.toMatchObject({ name: 'testcontainers' });
  });

  it('falls back to the local stack without Docker', async () => {
    await expect(selectProvider({}, docker(false))).resolves.toMatchObject({ name: 'local' });
  });

  it('obeys an explicit choice over what auto would pick', async () => {
    await expect(selectProvider({ ...external, BACKSTREAM_TEST_STACK: 'local' }, docker(true))).resolves.toMatchObject({
      name: 'local',
    });
    await expect(selectProvider({ BACKSTREAM_TEST_STACK: 'Testcontainers' }, docker(true))).resolves.toMatchObject({
      name: 'testcontainers',
    });
  });

  it('fails an explicit choice that cannot work, naming what is missing', async () => {
    await expect(selectProvider({ BACKSTREAM_TEST_STACK: 'external' }, docker(true))).rejects.toThrow(
      /BACKSTREAM_TEST_KAFKA_BROKERS/,
    );
    await expect(selectProvider({ BACKSTREAM_TEST_STACK: 'testcontainers' }, docker(false))).rejects.toThrow(
      /no Docker engine/,
    );
  });

  it('rejects an unknown provider name', async () => {
    await expect(selectProvider({ BACKSTREAM_TEST_STACK: 'minio' }, docker(false))).rejects.toThrow(
      /not one of auto, external, testcontainers, local/,
    );
  });
});
