import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/processes';
import { testEnv } from '../support/stack-config';

/**
 * Settings whose errors would echo key material (docs/security.md, "Secrets in errors and
 * logs"): the real CLI, with recognisable keys in config files and environment variables,
 * must name the setting or file and exit 2, and print no 8 characters of the key.
 */
const MASTER_KEY = 'l1bFyqthFP6WwGiaQNT7XuGUVnGv8h93SwRsIgzJo3w=';
const SEED_HEX = 'eb1373db9cac9cea309b5af5f63c2c08ddd8291c5a72962ceb8214ec97ed9961';
const S3_SECRET = 'oE5nymSg2C4HX70q5ByxQYUm0anNFaqhmJPYGUar';
const SIGNING_PEM_BODY = 'MC4CAQAwBQYDK2VwBCIEIPY7F2xfhQfdZXyf8nF20HSitUwrrqJHA8EWtLHZADT/';

const scratch = mkdtempSync(join(tmpdir(), 'backstream-secrets-'));
const env = testEnv('secrets');

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

/** Fails naming the first 8-character piece of `secret` found in the output. */
function expectNoPieceOf(secret: string, result: CliResult): void {
  const output = `${result.stdout}\n${result.stderr}`;
  const leaked: string[] = [];
  for (let i = 0; i + 8 <= secret.length; i++) {
    const piece = secret.slice(i, i + 8);
    if (output.includes(piece)) leaked.push(piece);
  }
  expect({ leaked, output }).toEqual({ leaked: [], output });
}

function expectUsageError(result: CliResult, names: RegExp): void {
  expect({ code: result.code, stderr: result.stderr }).toEqual({
    code: 2,
    stderr: expect.stringMatching(names) as unknown,
  });
}

describe('key material never reaches the output', () => {
  it('a JSON syntax error right after the master key: the file, line and column only', async () => {
    const file = configFile('unquoted.json', `{\n  "encryption": {\n    "masterKey": ${MASTER_KEY}\n  }\n}\n`);
    const result = await runCli(['--config', file, 'config', '--show'], env);
    expectUsageError(result, new RegExp(`${file}.*line 3, column 18`));
    expectNoPieceOf(MASTER_KEY, result);
  });

  it('a master key in single quotes (a JSON syntax error inside the value)', async () => {
    const file = configFile('quoted.json', `{"encryption": {"masterKey": '${MASTER_KEY}'}}`);
    const result = await runCli(['--config', file, 'config', '--show'], env);
    expectUsageError(result, new RegExp(`${file}.*line 1, column 30`));
    expectNoPieceOf(MASTER_KEY, result);
  });

  it('an S3 secret in single quotes, through doctor', async () => {
    const file = configFile('s3.json', `{"s3": {"secretAccessKey": '${S3_SECRET}', "region": "x"}}`);
    const result = await runCli(['--config', file, 'doctor', '--timeout', '2'], env);
    expectUsageError(result, new RegExp(file));
    expectNoPieceOf(S3_SECRET, result);
  });

  it('an S3 session token given as an object: the setting, not the value (nor with BACKSTREAM_DEBUG)', async () => {
    const asObject = configFile('s3-object.json', JSON.stringify({ s3: { sessionToken: { [S3_SECRET]: true } } }));
    const result = await runCli(['--config', asObject, 'config', '--show'], { ...env, BACKSTREAM_DEBUG: '1' });
    expectUsageError(result, /s3\.sessionToken.*not an object/);
    expectNoPieceOf(S3_SECRET, result);
  });

  it('a malformed master key, inline and in its file', async () => {
    const inline = await runCli(['init'], {
      ...env,
      BACKSTREAM_ENCRYPTION_MASTER_KEY: `${MASTER_KEY.slice(0, 40)}!!!=`,
    });
    expectUsageError(inline, /encryption\.masterKey/);
    expectNoPieceOf(MASTER_KEY, inline);
    const file = configFile('master.key', `${MASTER_KEY.slice(1)}\n`);
    const inFile = await runCli(['init'], { ...env, BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE: file });
    expectUsageError(inFile, new RegExp(`encryption\\.masterKeyFile.*${file}`));
    expectNoPieceOf(MASTER_KEY, inFile);
  });

  it('the master key itself where its file name belongs', async () => {
    const result = await runCli(['init'], { ...env, BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE: MASTER_KEY });
    expectUsageError(result, /encryption\.masterKeyFile/);
    expectNoPieceOf(MASTER_KEY, result);
  });

  it('a malformed signing key, inline and where its file name belongs', async () => {
    const broken = `-----BEGIN PRIVATE KEY-----\n${SIGNING_PEM_BODY.slice(0, 40)}#${SIGNING_PEM_BODY.slice(41)}\n-----END PRIVATE KEY-----\n`;
    const inline = await runCli(['ledger', 'verify', '--json'], { ...env, BACKSTREAM_LEDGER_SIGNING_KEY: broken });
    expectUsageError(inline, /ledger\.signingKey/);
    expectNoPieceOf(SIGNING_PEM_BODY, inline);
    const seedAsPath = await runCli(['ledger', 'verify', '--json'], {
      ...env,
      BACKSTREAM_LEDGER_SIGNING_KEY: '',
      BACKSTREAM_LEDGER_SIGNING_KEY_FILE: SEED_HEX,
    });
    expectUsageError(seedAsPath, /ledger\.signingKeyFile/);
    expectNoPieceOf(SEED_HEX, seedAsPath);
  });

  it('a malformed public key, inline and where its file name belongs', async () => {
    const inline = await runCli(['ledger', 'verify', '--json'], {
      ...env,
      BACKSTREAM_LEDGER_PUBLIC_KEY: `${SEED_HEX}0`,
    });
    expectUsageError(inline, /ledger\.publicKey/);
    expectNoPieceOf(SEED_HEX, inline);
    const pemAsPath = `-----BEGIN PRIVATE KEY-----\n${SIGNING_PEM_BODY}\n-----END PRIVATE KEY-----`;
    const asPath = await runCli(['ledger', 'verify', '--json'], {
      ...env,
      BACKSTREAM_LEDGER_PUBLIC_KEY_FILE: pemAsPath,
    });
    expectUsageError(asPath, /ledger\.publicKeyFile/);
    expectNoPieceOf(SIGNING_PEM_BODY, asPath);
  });

  it('a sensitive setting of the wrong type names the setting and the form, not the value', async () => {
    const file = configFile('sasl.json', JSON.stringify({ kafka: { sasl: { password: [MASTER_KEY] } } }));
    const result = await runCli(['--config', file, 'config', '--show'], env);
    expectUsageError(result, /kafka\.sasl\.password.*must be a string/);
    expectNoPieceOf(MASTER_KEY, result);
  });
});
