import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readiness } from './readiness';

export interface HealthServerOptions {
  port: number;
  host: string;
  readiness: Readiness;
  /** Answers /metrics (Prometheus text); 404 when undefined (metrics off). */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface HealthServer {
  /** The port actually bound (the configured one, or the one picked for port 0). */
  port: number;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

/**
 * The HTTP face of a service for its orchestrator: /healthz answers while the event loop
 * runs (liveness: restart me if this stops), /readyz reports the readiness checks (200 or
 * 503 with the reasons), /metrics the Prometheus text. Started before anything connects,
 * so a service waiting for its broker is alive but not ready.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'only GET' });
    } else if (path === '/healthz') {
      json(res, 200, { status: 'alive', uptimeSeconds: Math.round(process.uptime()) });
    } else if (path === '/readyz') {
      const report = options.readiness.report();
      json(res, report.ready ? 200 : 503, report);
    } else if (path === '/metrics' && options.metrics) {
      options.metrics(req, res);
    } else {
      json(res, 404, { error: `no ${path}; try /healthz, /readyz${options.metrics ? ', /metrics' : ''}` });
    }
  });
  // Probes must not keep a stopping process alive.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
