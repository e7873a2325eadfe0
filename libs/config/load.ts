import { readFileSync } from 'node:fs';
import convict from 'convict';
import { parse as parseLossless } from 'lossless-json';
import { validateChunkingParams } from '../chunking/fastcdc';
import { ConfigError } from '../errors';
import { registerFormats } from './formats';
import { configSchema, type BackstreamConfig } from './schema';

export interface LoadConfigOptions {
  /** Environment to read BACKSTREAM_* from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** A JSON config file; defaults to $BACKSTREAM_CONFIG when set. */
  file?: string;
}

export interface LoadedConfig {
  config: BackstreamConfig;
  /** The effective settings as JSON with every sensitive value replaced by "[Sensitive]". */
  redacted(): Record<string, unknown>;
}

/** Maps each dotted key of the schema to its environment variable, for error messages. */
function envNames(schema: object, path: string[] = [], out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(schema)) {
    if (v && typeof v === 'object' && 'default' in v) {
      if (typeof (v as { env?: unknown }).env === 'string') out.set([...path, k].join('.'), (v as { env: string }).env);
    } else if (v && typeof v === 'object') {
      envNames(v as object, [...path, k], out);
    }
  }
  return out;
}

const ENV_NAMES = envNames(configSchema);

/** Returns the environment variable of a dotted key, e.g. "kafka.brokers" → "BACKSTREAM_KAFKA_BROKERS". */
export function envNameOf(key: string): string | undefined {
  return ENV_NAMES.get(key);
}

/**
 * Reads, validates and returns the configuration: schema defaults, then the config
 * file, then BACKSTREAM_* environment variables. Throws ConfigError naming the first
 * key that is wrong and the form it expects; sensitive values are never in the message.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  registerFormats();
  const env = options.env ?? process.env;
  const file = options.file ?? env.BACKSTREAM_CONFIG;
  let cfg: convict.Config<BackstreamConfig>;
  try {
    cfg = convict(configSchema, { env, args: [] });
  } catch (err) {
    throw fromConvictError(err, 'environment');
  }
  if (file) {
    const parsed = readConfigFile(file);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    try {
      cfg.load(parsed);
      // Environment variables win over the file, as in every 12-factor deployment.
      reapplyEnv(cfg, env);
    } catch (err) {
      throw fromConvictError(err, file);
    }
  }
  try {
    cfg.validate({ allowed: 'strict' });
  } catch (err) {
    throw fromConvictError(err, file ?? 'environment');
  }
  const config = cfg.getProperties();
  checkChunking(config);
  return {
    config,
    redacted: () => JSON.parse(cfg.toString()) as Record<string, unknown>,
  };
}

/** Sets again, over file values, every key whose environment variable is present. */
function reapplyEnv(cfg: convict.Config<BackstreamConfig>, env: NodeJS.ProcessEnv): void {
  const fromEnv = convict(configSchema, { env, args: [] });
  for (const [key, name] of ENV_NAMES) {
    if (env[name] !== undefined) {
      cfg.set(key as never, fromEnv.get(key as never));
    }
  }
}

function fromConvictError(err: unknown, origin: string): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  // convict reports one problem a line: "<key>: <problem>[: value was <json>]".
  const first = message.split('\n').find((l) => l.trim() !== '') ?? message;
  const undeclared = /configuration param '([^']+)' not declared/.exec(first);
  if (undeclared) {
    return new ConfigError(`unknown setting "${undeclared[1]}" in ${origin}`, {
      key: undeclared[1],
      hint: 'see `backstream config --describe` for every setting',
      cause: err,
    });
  }
  // A setting given as an object in the file: convict merges it into its tree and then misses the leaf.
  const overridden = /configuration param '([^']+)' missing from config/.exec(first);
  if (overridden) {
    const key = overridden[1] as string;
    const env = envNameOf(key);
    return new ConfigError(
      `invalid setting ${key}${env ? ` (${env})` : ''} in ${origin}: must be a value, not an object`,
      {
        key,
        cause: err,
      },
    );
  }
  const keyMatch = /^([\w.]+): (.*)$/.exec(first.trim());
  if (keyMatch) {
    const key = keyMatch[1] as string;
    const env = envNameOf(key);
    return new ConfigError(`invalid setting ${key}${env ? ` (${env})` : ''}: ${keyMatch[2]}`, { key, cause: err });
  }
  return new ConfigError(`invalid configuration in ${origin}: ${first}`, { cause: err });
}

/** Cross-setting rules: the chunker's own size rule (one definition), and fetch sizes that fit a chunk. */
function checkChunking(config: BackstreamConfig): void {
  validateChunkingParams(config.chunking);
  const { maxSize } = config.chunking;
  if (config.chunkWorker.fetchMaxBytes < maxSize) {
    throw new ConfigError(
      `invalid setting chunkWorker.fetchMaxBytes (BACKSTREAM_CHUNK_WORKER_FETCH_MAX_BYTES): must be at least chunking.maxSize (${maxSize}), got ${config.chunkWorker.fetchMaxBytes}`,
      { key: 'chunkWorker.fetchMaxBytes' },
    );
  }
}

/** Settings a command cannot run without; named with their environment variable when absent. */
export type RequiredSetting = 'kafka.brokers' | 's3.bucket' | 'changes.topics';

export function requireSettings(config: BackstreamConfig, keys: readonly RequiredSetting[]): void {
  for (const key of keys) {
    const missing = {
      'kafka.brokers': config.kafka.brokers.length === 0,
      's3.bucket': config.s3.bucket === '',
      'changes.topics': config.changes.topics.length === 0,
    }[key];
    if (missing) {
      throw new ConfigError(`${key} is not set: set ${envNameOf(key)} or "${key}" in the config file`, { key });
    }
  }
}

/** Every setting with its environment variable, default and description, for `config --describe`. */
export function describeSettings(): Array<{
  key: string;
  env: string;
  default: unknown;
  doc: string;
  sensitive: boolean;
}> {
  const out: Array<{ key: string; env: string; default: unknown; doc: string; sensitive: boolean }> = [];
  const walk = (node: object, path: string[]): void => {
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === 'object' && 'default' in v) {
        const leaf = v as { env: string; default: unknown; doc?: string; sensitive?: boolean };
        out.push({
          key: [...path, k].join('.'),
          env: leaf.env,
          default: leaf.sensitive ? '' : leaf.default,
          doc: leaf.doc ?? '',
          sensitive: leaf.sensitive === true,
        });
      } else if (v && typeof v === 'object') {
        walk(v as object, [...path, k]);
      }
    }
  };
  walk(configSchema, []);
  return out;
}

/**
 * Reads and parses the config file. The messages name the file and, for a syntax error, the
 * line and column only: JSON.parse quotes the text around the error, and that text is often a
 * key or a password (docs/security.md, "Secrets in errors and logs").
 */
function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`cannot read config file ${file}: ${code}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError(`config file ${file} is not valid JSON at ${syntaxErrorPlace(text)}`, {
      hint: 'the config file must be a JSON object with the sections of `backstream config --describe`',
    });
  }
}

/** "line L, column C" (1-based) of the first syntax error, found by lossless-json's parser. */
function syntaxErrorPlace(text: string): string {
  try {
    parseLossless(text);
  } catch (err) {
    const match = /at position (\d+)/.exec((err as Error).message);
    if (match) {
      const position = Math.min(Number(match[1]), text.length);
      const before = text.slice(0, position);
      const line = before.split('\n').length;
      const column = position - (before.lastIndexOf('\n') + 1) + 1;
      return `line ${line}, column ${column}`;
    }
  }
  return 'an unknown place';
}
