import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { withTimeout } from '../../libs/errors';

const cli = resolve(__dirname, '..', '..', 'bin', 'backstream.js');
const running = new Set<ChildProcess>();

export interface ServiceProcess {
  name: string;
  proc: ChildProcess;
  output(): string;
  /** Sends the signal and waits for the process to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // Only the test's own BACKSTREAM_* settings: nothing from a developer's shell leaks in.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BACKSTREAM_')));
  return { ...base, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env };
}

export interface StartOptions {
  /**
   * The info-level log message to wait for: "service started" (connected, in its consumer
   * group) by default; "health server listening" for a service whose dependencies are not
   * reachable yet.
   */
  until?: string;
}

/** Starts `backstream run <service>` and resolves once it has logged that it started. */
export async function startService(
  name: string,
  env: Record<string, string>,
  options: StartOptions = {},
): Promise<ServiceProcess> {
  const until = options.until ?? 'service started';
  // Readiness is read from the info-level "service started" line, whatever level the test chose.
  const proc = spawn(process.execPath, [cli, 'run', name], {
    env: childEnv({ ...env, BACKSTREAM_LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let out = '';
  const started = new Promise<void>((resolveStarted, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes(until)) resolveStarted();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code} before starting:\n${out}`)));
  });
  const startTimeoutMs = 90_000;
  await withTimeout(
    started,
    startTimeoutMs,
    () => new Error(`${name} did not log "${until}" within ${startTimeoutMs} ms; its output:\n${out.slice(-4000)}`),
  );
  return {
    name,
    proc,
    output: () => out,
    kill: async (signal) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill(signal);
      await exited;
    },
  };
}

/** The port of a service's health server, from its "health server listening" log line (BACKSTREAM_HEALTH_PORT=0). */
export function healthPortOf(service: ServiceProcess): number {
  for (const line of service.output().split('\n')) {
    if (!line.startsWith('{') || !line.includes('"msg":"health server listening"')) continue;
    // The line may still be arriving (its end after "msg"): read the field, not the whole JSON.
    const port = Number(/"port":(\d+)/.exec(line)?.[1]);
    if (port > 0) return port;
  }
  throw new Error(`${service.name} has not logged its health port:\n${service.output().slice(-2000)}`);
}

/** JSON log lines a process wrote (other lines skipped). */
export function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a backstream command to completion. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const proc = spawnCli(args, env);
  const [code, signal] = (await once(proc.proc, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout: proc.stdout(), stderr: proc.stderr() };
}

export function spawnCli(
  args: string[],
  env: Record<string, string>,
): { proc: ChildProcess; stdout(): string; stderr(): string } {
  const proc = spawn(process.execPath, [cli, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return { proc, stdout: () => stdout, stderr: () => stderr };
}

/** Kills every process the tests started and that still runs (afterAll of each file). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = once(p, 'exit');
      p.kill('SIGKILL');
      await exited;
    }),
  );
}

/** The summary line of `backstream backup --json`. */
export function backupSummary(stdout: string): Record<string, unknown> & { snapshotId: string } {
  const line = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((o) => o.type === 'summary');
  if (!line) throw new Error(`no summary in backup output:\n${stdout}`);
  return line as Record<string, unknown> & { snapshotId: string };
}
