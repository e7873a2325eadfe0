import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** OTLP span kinds (the protocol's numbers, not the API's). */
export const OTLP_SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

type AttributeValue = string | number | boolean | undefined;

/** One received span, flattened: which service sent it, ids in lowercase hex, attributes as plain values. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, AttributeValue>;
}

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpKeyValue[];
}
export interface OtlpResourceSpans {
  resource?: { attributes?: OtlpKeyValue[] };
  scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
}

function plain(value: OtlpAnyValue | undefined): AttributeValue {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, plain(kv.value)]));
}

/** OTLP/JSON ids are hex; tolerate base64 (the protobuf-JSON mapping) too. */
function hexId(id: string | undefined, bytes: number): string {
  if (!id) return '';
  if (id.length === bytes * 2 && /^[0-9a-f]+$/i.test(id)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port>, for BACKSTREAM_TELEMETRY_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** Every resourceSpans received, as sent. */
  readonly resourceSpans: OtlpResourceSpans[];
  /** Export requests received by path (/v1/traces, /v1/metrics). */
  readonly requests: Map<string, number>;
  /** Content types seen, by path. */
  readonly contentTypes: Map<string, Set<string>>;
  /** Requests that could not be read (unknown content type, bad JSON), with the reason. */
  readonly rejected: string[];
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/**
 * A minimal OTLP/HTTP collector for tests: accepts POST /v1/traces and /v1/metrics in the
 * JSON encoding (what @opentelemetry/exporter-*-otlp-http send) and keeps the spans.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const resourceSpans: OtlpResourceSpans[] = [];
  const requests = new Map<string, number>();
  const contentTypes = new Map<string, Set<string>>();
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics')) {
        res.writeHead(404).end();
        return;
      }
      requests.set(path, (requests.get(path) ?? 0) + 1);
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      contentTypes.set(path, (contentTypes.get(path) ?? new Set()).add(type));
      let raw = await body(req);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      if (type !== 'application/json') {
        rejected.push(`${path}: content-type ${type} (only JSON is decoded)`);
        res.writeHead(415).end();
        return;
      }
      try {
        const parsed = JSON.parse(raw.toString('utf8')) as { resourceSpans?: OtlpResourceSpans[] };
        if (path === '/v1/traces') resourceSpans.push(...(parsed.resourceSpans ?? []));
      } catch (err) {
        rejected.push(`${path}: ${(err as Error).message}`);
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    resourceSpans,
    requests,
    contentTypes,
    rejected,
    spans: () =>
      resourceSpans.flatMap((rs) => {
        const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
        return (rs.scopeSpans ?? []).flatMap((ss) =>
          (ss.spans ?? []).map((s): ReceivedSpan => ({
            service,
            traceId: hexId(s.traceId, 16),
            spanId: hexId(s.spanId, 8),
            parentSpanId: hexId(s.parentSpanId, 8),
            name: s.name,
            kind: s.kind,
            attributes: attributesOf(s.attributes),
          })),
        );
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
