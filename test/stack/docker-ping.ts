import { existsSync } from 'node:fs';
import { request } from 'node:http';

/**
 * True when a Docker engine answers GET /_ping within the timeout. A docker CLI on the
 * PATH proves nothing (machines often have the client and no engine), so ask the engine.
 */
export function dockerReachable(env: NodeJS.ProcessEnv = process.env, timeoutMs = 1500): Promise<boolean> {
  const host = env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  let target: { socketPath: string } | { host: string; port: number };
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!existsSync(socketPath)) return Promise.resolve(false);
    target = { socketPath };
  } else if (host.startsWith('tcp://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: url.hostname, port: Number(url.port || 2375) };
  } else {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
