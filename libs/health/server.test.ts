import { EventEmitter } from 'node:events';
import type { Consumer } from 'kafkajs';
import { Readiness } from './readiness';
import { startHealthServer, type HealthServer } from './server';

/** The part of a kafkajs consumer Readiness listens to: its instrumentation events. */
function fakeConsumer(): { consumer: Consumer; emit(event: string, payload: unknown): void } {
  const emitter = new EventEmitter();
  const events = {
    CONNECT: 'consumer.connect',
    GROUP_JOIN: 'consumer.group_join',
    REBALANCING: 'consumer.rebalancing',
    CRASH: 'consumer.crash',
    STOP: 'consumer.stop',
    DISCONNECT: 'consumer.disconnect',
  };
  const consumer = {
    events,
    on: (event: string, listener: (e: unknown) => void) => {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    },
  } as unknown as Consumer;
  return { consumer, emit: (event, payload) => emitter.emit(event, { payload }) };
}

describe('Readiness', () => {
  it('is not ready with no checks, or with any check failing', () => {
    const r = new Readiness();
    expect(r.report().ready).toBe(false);
    r.set('store', true, 'ok');
    expect(r.report().ready).toBe(true);
    r.set('shutdown', false, 'stopping on SIGTERM');
    expect(r.report()).toMatchObject({
      ready: false,
      checks: { shutdown: { ok: false, detail: 'stopping on SIGTERM' } },
    });
    r.delete('shutdown');
    expect(r.report().ready).toBe(true);
  });

  it('follows a consumer: ready once it joined its group, not while rebalancing, crashed or stopped', () => {
    const r = new Readiness();
    const { consumer, emit } = fakeConsumer();
    r.watchConsumer('chunk-worker', consumer);
    expect(r.report().checks['kafka:chunk-worker']).toMatchObject({ ok: false, detail: 'connecting' });
    emit('consumer.connect', {});
    expect(r.report().ready).toBe(false);
    emit('consumer.group_join', { groupId: 'p.chunk-worker', memberAssignment: { 'p.chunks': [0, 3] } });
    expect(r.report()).toMatchObject({
      ready: true,
      checks: { 'kafka:chunk-worker': { detail: 'member of p.chunk-worker, 2 partition(s) assigned: p.chunks[0,3]' } },
    });
    emit('consumer.rebalancing', {});
    expect(r.report().ready).toBe(false);
    emit('consumer.group_join', { groupId: 'p.chunk-worker', memberAssignment: {} });
    expect(r.report().checks['kafka:chunk-worker']?.detail).toBe('member of p.chunk-worker, 0 partition(s) assigned');
    expect(r.report().ready).toBe(true);
    emit('consumer.crash', { error: new Error('broker gone'), restart: true });
    expect(r.report().checks['kafka:chunk-worker']).toMatchObject({
      ok: false,
      detail: 'crashed: broker gone (restarting)',
    });
  });
});

describe('health server', () => {
  let server: HealthServer;
  const readiness = new Readiness();
  const get = (path: string, method = 'GET'): Promise<Response> =>
    fetch(`http://127.0.0.1:${server.port}${path}`, { method });

  beforeAll(async () => {
    server = await startHealthServer({ port: 0, host: '127.0.0.1', readiness });
  });
  afterAll(() => server.close());

  it('answers /healthz while alive, /readyz with 503 then 200 and the reasons', async () => {
    expect((await get('/healthz')).status).toBe(200);
    readiness.set('startup', false, 'waiting for dependencies: kafka: Connection refused');
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, checks: { startup: { ok: false } } });
    readiness.delete('startup');
    readiness.set('store', true, 'bucket reachable');
    expect((await get('/readyz')).status).toBe(200);
  });

  it('has no /metrics when metrics are off, and only GET', async () => {
    expect((await get('/metrics')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
  });

  it('refuses a port in use with the listen error', async () => {
    await expect(startHealthServer({ port: server.port, host: '127.0.0.1', readiness })).rejects.toThrow(/EADDRINUSE/);
  });
});
