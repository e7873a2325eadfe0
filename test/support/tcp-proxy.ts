import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** Where connections are forwarded. */
  target: { host: string; port: number };
  /** Port to listen on (127.0.0.1); 0 or absent: any free port. */
  port?: number;
  /** Delay applied to every chunk of data coming back from the target (changeable later). */
  responseDelayMs?: number;
  /**
   * Which answers the delay applies to, by the request line the connection last sent
   * (HTTP/1.x: "PUT /bucket/key HTTP/1.1"; empty for other protocols). Default: all.
   */
  holdIf?: (request: string) => boolean;
}

export interface TcpProxy {
  readonly port: number;
  /** Delay for response chunks read from now on. */
  setResponseDelay(ms: number): void;
  /**
   * Connections that sent request bytes whose answer has not reached the client yet:
   * with one request at a time per connection (HTTP/1.1), the requests in flight.
   */
  inFlight(): number;
  /** Connections accepted so far. */
  connections(): number;
  /**
   * Answers held back so far, oldest first: the request line the connection last sent
   * (HTTP/1.x: "PUT /bucket/key HTTP/1.1"; empty for other protocols) and the delay applied.
   */
  held(): Array<{ request: string; delayMs: number }>;
  /** Stops listening and cuts every connection. */
  close(): Promise<void>;
}

/**
 * A TCP forwarder on 127.0.0.1 for tests: puts a dependency behind a port the test controls
 * (so it can appear later), and can hold the target's answers back to make work slow.
 * Requests go through at once; only what comes back is delayed.
 */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  let delayMs = options.responseDelayMs ?? 0;
  let accepted = 0;
  const awaiting = new Set<Socket>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const held: Array<{ request: string; delayMs: number }> = [];

  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = connect(options.target.port, options.target.host);
    sockets.add(client);
    sockets.add(upstream);
    let closed = false;
    let request = '';
    const closeBoth = (): void => {
      if (closed) return;
      closed = true;
      awaiting.delete(client);
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (data: Buffer) => {
      const line = /^[A-Z]+ \S+ HTTP\/1\.[01]/.exec(data.subarray(0, 2048).toString('latin1'));
      if (line) request = line[0];
      awaiting.add(client);
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      const deliver = (): void => {
        if (closed) return;
        awaiting.delete(client);
        client.write(data);
      };
      if (delayMs <= 0 || !(options.holdIf?.(request) ?? true)) {
        deliver();
        return;
      }
      // Held back; the target's stream is paused meanwhile, so what follows (its end too)
      // comes after it, in order.
      held.push({ request, delayMs });
      upstream.pause();
      const timer = setTimeout(() => {
        timers.delete(timer);
        deliver();
        upstream.resume();
      }, delayMs);
      timers.add(timer);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', () => client.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('proxy has no address');
  return {
    port: address.port,
    setResponseDelay: (ms) => {
      delayMs = ms;
    },
    inFlight: () => awaiting.size,
    connections: () => accepted,
    held: () => [...held],
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of sockets) s.destroy();
        sockets.clear();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on right now (listen on 0, read it, close). */
export function reservePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
