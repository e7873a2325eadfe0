import type { Producer, ProducerRecord } from 'kafkajs';
import { KafkaSink } from './sinks';

function fakeProducer(): { producer: Pick<Producer, 'send'>; sent: ProducerRecord[] } {
  const sent: ProducerRecord[] = [];
  return {
    sent,
    producer: {
      send: (record: ProducerRecord) => {
        sent.push(record);
        return Promise.resolve([]);
      },
    },
  };
}

describe('KafkaSink', () => {
  it('produces the key and value with header bs-source, acks=all, in order and in batches', async () => {
    const { producer, sent } = fakeProducer();
    const sink = new KafkaSink(producer, 'restored', { maxBatchMessages: 2 });
    for (const key of ['a', 'b', 'c']) await sink.write({ source: 'crm.customers', key, value: `{"k":"${key}"}` });
    expect(sent).toHaveLength(1);
    await sink.commit();
    expect(sent.map((r) => [r.topic, r.acks, r.messages.map((m) => m.key)])).toEqual([
      ['restored', -1, ['a', 'b']],
      ['restored', -1, ['c']],
    ]);
    expect(sent[0]?.messages[0]).toEqual({
      key: 'a',
      value: '{"k":"a"}',
      headers: { 'bs-source': 'crm.customers' },
    });
  });

  it('sends a batch before it would pass the byte limit; a larger record goes alone', async () => {
    const { producer, sent } = fakeProducer();
    const sink = new KafkaSink(producer, 't', { maxBatchBytes: 100 });
    await sink.write({ source: 's', key: '1', value: 'x'.repeat(60) });
    await sink.write({ source: 's', key: '2', value: 'x'.repeat(60) });
    await sink.write({ source: 's', key: '3', value: 'x'.repeat(500) });
    await sink.write({ source: 's', key: '4', value: 'x' });
    await sink.commit();
    expect(sent.map((r) => r.messages.map((m) => m.key))).toEqual([['1'], ['2'], ['3'], ['4']]);
  });

  it('sends nothing more after abort', async () => {
    const { producer, sent } = fakeProducer();
    const sink = new KafkaSink(producer, 't');
    await sink.write({ source: 's', key: '1', value: '{}' });
    await sink.abort();
    await sink.commit();
    expect(sent).toEqual([]);
  });
});
