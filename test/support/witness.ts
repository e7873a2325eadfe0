import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Independent clients from Debian's packages (kcat, aws, restic) are the witnesses of
 * the integration tests: they prove that what backstream wrote is readable by someone
 * else's code. Absent one, the test is skipped with a note, except in CI where
 * infra/local/install-prereqs.sh installs them and their absence is a failure.
 */
export async function hasWitness(binary: string): Promise<boolean> {
  const found = await run('sh', ['-c', `command -v ${binary}`]).then(
    () => true,
    () => false,
  );
  if (!found && process.env.CI)
    throw new Error(`${binary} is required in CI: infra/local/install-prereqs.sh installs it`);
  if (!found) process.stderr.write(`[integration] ${binary} not installed: skipping its witness checks\n`);
  return found;
}

export async function witness(binary: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(binary, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
