import { request } from 'node:http';

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** GET http://127.0.0.1:<port><path>, the whole body as text. Rejects on connection errors. */
export function httpGet(port: number, path: string, timeoutMs = 5000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET as JSON (any status). */
export async function httpGetJson<T = unknown>(port: number, path: string): Promise<{ status: number; body: T }> {
  const answer = await httpGet(port, path);
  return { status: answer.status, body: JSON.parse(answer.body) as T };
}
