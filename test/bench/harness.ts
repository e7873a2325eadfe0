/**
 * What the benchmark scripts share: child processes in their own process groups (stopped on
 * failure or Ctrl-C), backstream services, CPU time from /proc, the local stack's processes,
 * removing a run's bucket, topics and consumer groups, and a description of the machine.
 *
 * A script calls `runMain(main)`: SIGINT/SIGTERM set the interrupted flag (commands started
 * afterwards throw `Interrupted`, running ones other than services get SIGTERM so that the
 * script's own cleanup can run), a second signal kills everything at once.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { lstat, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, release, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { DeleteBucketCommand, DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createKafka } from '../../libs/bus';
import type { BackstreamConfig } from '../../libs/config';
import { S3ObjectStore } from '../../libs/store';
import { withTimeout } from '../../libs/errors';
import type { GeneratedSection } from './report-doc';
import { median } from './stats';
import { num } from './versus-report';

/** The repository (this file runs as dist/test/bench/harness.js). */
export const repo = resolve(__dirname, '..', '..', '..');
export const cli = join(repo, 'bin', 'backstream.js');

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// ---- processes -------------------------------------------------------------------------

/** Every child this run started and that has not exited; each leads its own process group. */
export const running = new Set<ChildProcess>();
/**
 * The services among them: stopped by their round's cleanup, never signalled twice (a
 * service handles one SIGTERM gracefully; a second one kills it mid-stop).
 */
export const services = new Set<ChildProcess>();
let interrupted: NodeJS.Signals | undefined;

export function isInterrupted(): boolean {
  return interrupted !== undefined;
}

export class Interrupted extends Error {}

export function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** Signals the child's process group: /usr/bin/time and what it runs, or a service. */
export function signalGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || !alive(p)) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    // already gone
  }
}

export function checkInterrupted(): void {
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`);
}

export interface Spawned {
  proc: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, onStderr?: (d: string) => void): Spawned {
  checkInterrupted();
  // Own process group, so that a group signal reaches /usr/bin/time's child too.
  const proc = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => {
    const s = d.toString();
    stderr = (stderr + s).slice(-64 * 1024);
    onStderr?.(s);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit, reject) => {
    proc.once('error', (err) => {
      running.delete(proc);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    // 'close': the process exited and its output is complete.
    proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      running.delete(proc);
      resolveExit({ code, signal });
    });
  });
  return { proc, exit, stdout: () => stdout, stderr: () => stderr };
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Services that must stay up meanwhile: the command is stopped if one exits. */
  watch?: Service[];
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  wallMs: number;
}

export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const t0 = process.hrtime.bigint();
  const child = start(cmd, args, options.env ?? process.env);
  let wallMs = 0;
  child.proc.once('exit', () => (wallMs = Number(process.hrtime.bigint() - t0) / 1e6));
  let failure: string | undefined;
  const stop = (reason: string): void => {
    failure ??= reason;
    signalGroup(child.proc, 'SIGTERM');
  };
  const timer = setTimeout(() => stop(`timed out after ${options.timeoutMs} ms`), options.timeoutMs ?? 3_600_000);
  let done = false;
  for (const s of options.watch ?? []) {
    const onExit = (): void => {
      if (!done && !s.stopping) stop(`service ${s.name} exited meanwhile (log: ${s.logPath})`);
    };
    s.exit.then(onExit, onExit);
  }
  try {
    const { code, signal } = await child.exit;
    checkInterrupted();
    const what = `${basename(cmd)} ${args.join(' ')}`;
    if (failure) throw new Error(`${what}: ${failure}\n${child.stderr().slice(-4000)}`);
    if (code !== 0 && !options.allowFailure)
      throw new Error(`${what} failed (${signal ?? `exit ${code}`}):\n${child.stderr().slice(-4000)}`);
    return { code, stdout: child.stdout(), stderr: child.stderr(), wallMs };
  } finally {
    done = true;
    clearTimeout(timer);
  }
}

// ---- services --------------------------------------------------------------------------

export interface Service {
  name: string;
  proc: ChildProcess;
  exit: Promise<unknown>;
  logPath: string;
  stopping: boolean;
  /** From its "health server listening" log line: the health port and what telemetry it runs. */
  health?: ServiceHealth;
}

export interface ServiceHealth {
  port: number;
  tracing: boolean;
  metrics: boolean;
}

/** The health server's port and telemetry flags, if `line` is the service's JSON "health server listening" line. */
export function parseHealthLine(line: string): ServiceHealth | undefined {
  if (!line.includes('health server listening')) return undefined;
  try {
    const o = JSON.parse(line) as { port?: unknown; tracing?: unknown; metrics?: unknown };
    if (typeof o.port !== 'number') return undefined;
    return { port: o.port, tracing: o.tracing === true, metrics: o.metrics === true };
  } catch {
    return undefined;
  }
}

/** Starts `backstream run <name>` and resolves when it logs "service started". */
export async function startService(name: string, env: NodeJS.ProcessEnv, logPath: string): Promise<Service> {
  const logFile = createWriteStream(logPath);
  let seen = '';
  let lines = '';
  let health: ServiceHealth | undefined;
  let onStarted: () => void = () => undefined;
  const started = new Promise<void>((r) => (onStarted = r));
  const child = start(process.execPath, [cli, 'run', name], { ...env, BACKSTREAM_LOG_LEVEL: 'info' }, (d) => {
    logFile.write(d);
    seen = (seen + d).slice(-4096);
    if (health === undefined) {
      lines += d;
      let nl: number;
      while (health === undefined && (nl = lines.indexOf('\n')) >= 0) {
        health = parseHealthLine(lines.slice(0, nl));
        lines = lines.slice(nl + 1);
      }
      if (health !== undefined) lines = '';
    }
    if (seen.includes('service started')) onStarted();
  });
  child.proc.stdout?.on('data', (d: Buffer) => logFile.write(d));
  services.add(child.proc);
  const service: Service = { name, proc: child.proc, exit: child.exit, logPath, stopping: false };
  const onExit = (): void => {
    services.delete(child.proc);
    logFile.end();
  };
  child.exit.then(onExit, onExit);
  try {
    await withTimeout(
      Promise.race([
        started,
        child.exit.then(({ code, signal }) => {
          checkInterrupted();
          throw new Error(`${name} exited (${signal ?? code}) before starting:\n${child.stderr().slice(-4000)}`);
        }),
      ]),
      120_000,
      () => new Error(`${name} did not start within 120 s; see ${logPath}`),
    );
  } catch (err) {
    await stopService(service);
    throw err;
  }
  if (health !== undefined) service.health = health;
  return service;
}

/** SIGTERM, and SIGKILL if it has not exited 30 s later. */
export async function stopService(s: Service): Promise<void> {
  if (!alive(s.proc)) return;
  if (!s.stopping) signalGroup(s.proc, 'SIGTERM');
  s.stopping = true;
  const timer = setTimeout(() => signalGroup(s.proc, 'SIGKILL'), 30_000);
  await s.exit.catch(() => undefined);
  clearTimeout(timer);
}

/** Stops the services; one that did not exit cleanly (exit code 0) is an error naming its log. */
export async function stopServicesCleanly(all: Service[]): Promise<void> {
  await Promise.all(all.map((s) => stopService(s)));
  const failed = all.filter((s) => s.proc.exitCode !== 0);
  if (failed.length > 0)
    throw new Error(
      `services did not stop cleanly: ${failed.map((s) => `${s.name} (${s.proc.signalCode ?? s.proc.exitCode}, log ${s.logPath})`).join(', ')}`,
    );
}

/** One step of a cleanup: its failure is logged, and the cleanup goes on. */
export async function cleanupStep(what: string, f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (err) {
    log(`cleanup: ${what} failed: ${(err as Error).message}`);
  }
}

/**
 * Cleanup after a round: stops the services and removes `dir`, except for its *.log files
 * when a service did not exit cleanly (each such service is logged with its log's path).
 */
export async function stopServicesAndRemove(all: Service[], dir: string): Promise<void> {
  await Promise.all(all.map((s) => stopService(s)));
  const keepLogs = all.some((s) => s.proc.exitCode !== 0);
  for (const s of all)
    if (s.proc.exitCode !== 0)
      log(`${s.name} exited with ${s.proc.signalCode ?? s.proc.exitCode}, log kept: ${s.logPath}`);
  await cleanupStep(`removing ${dir}`, async () => {
    if (!keepLogs) return rm(dir, { recursive: true, force: true });
    for (const e of await readdir(dir))
      if (!e.endsWith('.log')) await rm(join(dir, e), { recursive: true, force: true });
  });
}

// ---- /proc -------------------------------------------------------------------------------

let clockTicks: number | undefined;

/** CPU time (user + system) the process has used so far, in ms; undefined when it is gone. */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    clockTicks ??= Number(sh('getconf', ['CLK_TCK'])) || 100;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * Starts counting the CPU time of the named processes; the function returned gives each one's
 * CPU ms since then (rounded), leaving out processes that were or are gone.
 */
export function cpuMeter(pids: Record<string, number | undefined>): () => Record<string, number> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMsOf(pid)]));
  return () => {
    const used: Record<string, number> = {};
    for (const [k, pid] of Object.entries(pids)) {
      const b = before[k];
      const after = cpuMsOf(pid);
      if (b !== undefined && after !== undefined) used[k] = Math.round(after - b);
    }
    return used;
  };
}

/**
 * CPU time of the whole machine so far, in ms summed over its CPUs: `busy` (user, nice,
 * system, irq, softirq) and `steal` (taken by the hypervisor for other guests).
 */
export function machineCpuMs(): { busy: number; steal: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  clockTicks ??= Number(sh('getconf', ['CLK_TCK'])) || 100;
  const ms = (ticks: number): number => (ticks * 1000) / (clockTicks as number);
  return { busy: ms(user + nice + system + irq + softirq), steal: ms(steal) };
}

// ---- the stack ---------------------------------------------------------------------------

export interface Stack {
  kafkaPid?: number;
  s3Pid?: number;
  kafkaLogDir?: string;
}

/** The local stack's processes and Kafka log directory, read from its state folder if there. */
export function localStack(): Stack {
  const state = process.env.BACKSTREAM_STACK_DIR ?? join(repo, '.stack');
  const pid = (file: string): number | undefined => {
    try {
      const p = Number(readFileSync(join(state, file), 'utf8').trim());
      return existsSync(`/proc/${p}`) ? p : undefined;
    } catch {
      return undefined;
    }
  };
  const stack: Stack = {};
  const kafkaPid = pid('kafka/kafka.pid');
  const s3Pid = pid('versitygw/versitygw.pid');
  if (kafkaPid !== undefined) stack.kafkaPid = kafkaPid;
  if (s3Pid !== undefined) stack.s3Pid = s3Pid;
  try {
    const m = /^log\.dirs=(.+)$/m.exec(readFileSync(join(state, 'kafka', 'server.properties'), 'utf8'));
    if (m && !(m[1] as string).includes(',')) stack.kafkaLogDir = (m[1] as string).trim();
  } catch {
    // not the local stack
  }
  return stack;
}

export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  const keys: string[] = [];
  try {
    for await (const o of new S3ObjectStore(s3, bucket).list('')) keys.push(o.key);
  } catch (err) {
    if ((err as { cause?: { name?: string } }).cause?.name === 'NoSuchBucket') return;
    throw err;
  }
  for (let i = 0; i < keys.length; i += 1000) {
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    if (r.Errors?.length) throw new Error(`deleting objects of ${bucket}: ${JSON.stringify(r.Errors[0])}`);
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export async function deleteTopicsAndGroups(config: BackstreamConfig, prefix: string): Promise<void> {
  const admin = createKafka(config.kafka, { clientSuffix: 'bench', retries: 2 }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0)
      await admin.deleteGroups(groups).catch((err: Error & { groups?: Array<{ groupId: string; error?: Error }> }) => {
        // A service that did not leave (killed) keeps its group non-empty until its session times out.
        const details = (err.groups ?? []).map((g) => `${g.groupId}: ${g.error?.message ?? 'ok'}`).join('; ');
        throw new Error(`deleting consumer groups: ${details || err.message}`);
      });
  } finally {
    await admin.disconnect();
  }
}

// ---- machine -----------------------------------------------------------------------------

export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function describeDisk(path: string): string {
  const [source, fstype] = sh('findmnt', ['-no', 'SOURCE,FSTYPE', '--target', path]).split(/\s+/);
  if (!source) return 'unknown';
  const dev = basename(source);
  const sys = `/sys/class/block/${dev}`;
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const rotational = read(`${sys}/queue/rotational`);
  const driver = sh('readlink', ['-f', `${sys}/device/driver`]);
  const model = read(`${sys}/device/model`);
  return [
    `${source} (${fstype ?? '?'})`,
    driver ? basename(driver) : '',
    model,
    rotational === '1' ? 'rotational per the kernel' : rotational === '0' ? 'non-rotational' : '',
  ]
    .filter(Boolean)
    .join(', ');
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memGiB: number;
  os: string;
  kernel: string;
  disk: string;
}

export function machine(work: string): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const os = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(
    existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '',
  );
  return {
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    os: os?.[1] ?? 'unknown OS',
    kernel: release(),
    disk: describeDisk(work),
  };
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) {
    // Second signal: no more waiting.
    for (const p of running) signalGroup(p, 'SIGKILL');
    process.exit(130);
  }
  interrupted = signal;
  log(`${signal}: stopping what this run started`);
  for (const p of running) if (!services.has(p)) signalGroup(p, 'SIGTERM');
}

/** Runs a benchmark's main function; exit code 0, 1 on failure, 130 when interrupted. */
export function runMain(main: () => Promise<void>): void {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      for (const p of running) signalGroup(p, 'SIGKILL');
      if (err instanceof Interrupted) process.stderr.write(`[bench] ${err.message}: partial results kept\n`);
      else process.stderr.write(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(interrupted ? 130 : 1);
    },
  );
}

/** backstream's commit, Node's version, `extra`, then the stack's pinned versions. */
export function versions(extra: Record<string, string> = {}): Record<string, string> {
  const env = readFileSync(join(repo, 'infra', 'local', 'versions.env'), 'utf8');
  const pinned = (k: string): string => new RegExp(`^${k}=(.+)$`, 'm').exec(env)?.[1] ?? '?';
  const commit = sh('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    backstream: `${commit || '?'}${dirty ? ' (with uncommitted changes)' : ''}`,
    'Node.js': process.version.slice(1),
    ...extra,
    Kafka: pinned('KAFKA_VERSION'),
    versitygw: pinned('VERSITYGW_VERSION'),
  };
}

// ---- reports -----------------------------------------------------------------------------

export interface Spread {
  mid: number;
  lo: number;
  hi: number;
  /** How many finite values. */
  n: number;
}

/** Median and range of `f` over `xs`, NaN values left out. */
export function stat<T>(xs: T[], f: (x: T) => number): Spread {
  const ys = xs.map(f).filter(Number.isFinite);
  return { mid: median(ys), lo: Math.min(...ys), hi: Math.max(...ys), n: ys.length };
}

/** `median (min–max)`, or just the value when there is one. */
export function ranged(s: Spread): string {
  return s.n > 1 ? `${num(s.mid)} (${num(s.lo)}–${num(s.hi)})` : num(s.mid);
}

/** A whole number with thousands separators; — when not finite. */
export function int(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}

// ---- docs --------------------------------------------------------------------------------

/** Writes `doc` to `docPath`, formatted by Prettier with the repository's settings if it loads. */
export async function writeFormatted(docPath: string, doc: string): Promise<void> {
  let text = doc;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(docPath)) ?? {};
    text = await prettier.format(text, { ...options, filepath: docPath });
  } catch (err) {
    log(`prettier not applied to ${docPath}: ${(err as Error).message}`);
  }
  await writeFile(docPath, text);
  log(`wrote the results into ${docPath}`);
}

/** Where a benchmark's report goes: <work>/<name>.md, stdout, and the doc's generated section. */
export interface ReportTarget {
  work: string;
  name: string;
  doc: string;
  section: GeneratedSection;
  writeDoc: 'auto' | 'yes' | 'no';
}

/** Fails before a long run whose report could not go into the doc. */
export function requireSectionMarkers(target: ReportTarget): void {
  if (target.writeDoc !== 'no' && !readFileSync(target.doc, 'utf8').includes(target.section.beginPrefix))
    throw new Error(
      `${target.doc} lacks the generated-section markers ${target.section.begin} … ${target.section.end}`,
    );
}

/** Writes the report; into the doc with --write-doc yes, or with auto when `fullRun`. */
export async function publishReport(target: ReportTarget, md: string, fullRun: boolean): Promise<void> {
  mkdirSync(target.work, { recursive: true });
  await writeFile(join(target.work, `${target.name}.md`), md);
  process.stdout.write(md);
  const wanted = target.writeDoc === 'auto' ? fullRun : target.writeDoc === 'yes';
  if (target.writeDoc === 'auto' && !fullRun)
    log(`${target.doc} left as is: not a full run (DOC=1 / --write-doc yes writes it anyway)`);
  if (wanted) await writeFormatted(target.doc, target.section.replace(await readFile(target.doc, 'utf8'), md));
}

// ---- datasets and timed commands (versus-restic.ts, encryption.ts) -----------------------

/** The dataset generator script (test/bench/dataset.ts, compiled). */
export const datasetJs = join(__dirname, 'dataset.js');
const TIME = '/usr/bin/time';

/** Throws unless /usr/bin/time (Debian package time), which `timed` runs commands under, is installed. */
export function requireTimeCommand(): void {
  if (!existsSync(TIME))
    throw new Error(`${TIME} is missing: install the Debian package time (infra/local/install-prereqs.sh)`);
}

export interface TimedResult extends RunResult {
  maxRssKiB: number;
  cpuMs: number;
}

/** The cached dataset of `mib` MiB; generated (whole, or not at all) when missing. */
export async function ensureDataset(work: string, mib: number): Promise<string> {
  const dir = join(work, `dataset-${mib}`);
  const done = `${dir}.done`;
  if (existsSync(done) && existsSync(dir)) return dir;
  log(`generating the ${mib} MiB dataset in ${dir}`);
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await run(process.execPath, [datasetJs, '--out', tmp, '--mib', String(mib)]);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  await writeFile(done, `${new Date().toISOString()}\n`);
  return dir;
}

export /** Bytes and regular files below a directory. */
async function treeStats(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await treeStats(p);
      bytes += sub.bytes;
      files += sub.files;
    } else if (e.isFile()) {
      bytes += (await lstat(p)).size;
      files += 1;
    }
  }
  return { bytes, files };
}

/** Runs the command under /usr/bin/time: wall time, its peak RSS and its CPU time. */
export async function timed(cmd: string, args: string[], timeFile: string, options: RunOptions): Promise<TimedResult> {
  const r = await run(TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args], options);
  // On failure time writes "Command exited with non-zero status N" first; the figures are last.
  const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
  const [rss, user, sys] = last.split(' ').map(Number);
  if (rss === undefined || user === undefined || sys === undefined || [rss, user, sys].some(Number.isNaN))
    throw new Error(`cannot read ${TIME} output ${JSON.stringify(last)}`);
  return { ...r, maxRssKiB: rss, cpuMs: (user + sys) * 1000 };
}

/** The last JSON line of a command's output that `match` accepts. */
export function lastJson(stdout: string, match: (o: Record<string, unknown>) => boolean): Record<string, unknown> {
  const found = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter(match)
    .pop();
  if (!found) throw new Error(`no summary line in:\n${stdout.slice(-2000)}`);
  return found;
}
