import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackstreamError } from '../errors';
import { SourceChangedError, openSourceFile, skipReasonOf } from './source-open';

/** Whether this process may run the command (mkfifo; mknod needs root). */
function can(command: string, args: string[]): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'backstream-open-probe-'));
  try {
    execFileSync(command, [join(dir, 'x'), ...args], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('openSourceFile', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'backstream-open-'));
    file = join(dir, 'file');
    writeFileSync(file, 'the bytes the walk saw');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** lstat as the walk does, run `swap`, then open: the window between scan and open, made exact. */
  async function openAfter(swap: () => void): Promise<string> {
    const seen = lstatSync(file);
    swap();
    try {
      const handle = await openSourceFile(file, seen);
      await handle.close();
      return 'opened';
    } catch (err) {
      if (err instanceof SourceChangedError) return err.reason;
      throw err;
    }
  }

  it('opens the file the walk saw, and reads it', async () => {
    const handle = await openSourceFile(file, lstatSync(file));
    try {
      expect((await handle.readFile()).toString()).toBe('the bytes the walk saw');
    } finally {
      await handle.close();
    }
  });

  it('does not follow a symlink swapped in, even to a file with the same bytes', async () => {
    writeFileSync(join(dir, 'other'), 'the bytes the walk saw');
    const reason = await openAfter(() => {
      rmSync(file);
      symlinkSync(join(dir, 'other'), file);
    });
    expect(reason).toBe('changed kind between scan and open (now a symlink)');
  });

  (can('mkfifo', []) ? it : it.skip)('does not block on a FIFO swapped in', async () => {
    const reason = await openAfter(() => {
      rmSync(file);
      execFileSync('mkfifo', [file]);
    });
    expect(reason).toBe('changed kind between scan and open (now a FIFO)');
  });

  (can('mknod', ['c', '1', '3']) ? it : it.skip)('refuses a device swapped in', async () => {
    const reason = await openAfter(() => {
      rmSync(file);
      execFileSync('mknod', [file, 'c', '1', '3']);
    });
    expect(reason).toBe('changed kind between scan and open (now a character device)');
  });

  it('refuses a directory swapped in, and another file renamed into its place', async () => {
    expect(
      await openAfter(() => {
        rmSync(file);
        mkdirSync(file);
      }),
    ).toBe('changed kind between scan and open (now a directory)');
    rmSync(file, { recursive: true });
    writeFileSync(file, 'x');
    expect(
      await openAfter(() => {
        writeFileSync(join(dir, 'new'), 'x');
        renameSync(join(dir, 'new'), file);
      }),
    ).toBe('was replaced between scan and open (inode changed)');
  });

  it('passes file system errors through as they are (a file gone)', async () => {
    const seen = lstatSync(file);
    rmSync(file);
    await expect(openSourceFile(file, seen)).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  it('names the path in the error message, the reason alone in `reason`', async () => {
    const seen = lstatSync(file);
    rmSync(file);
    symlinkSync('/etc/passwd', file);
    const err = (await openSourceFile(file, seen).catch((e: unknown) => e)) as SourceChangedError;
    expect(err).toBeInstanceOf(SourceChangedError);
    expect(err.code).toBe('SOURCE_UNREADABLE');
    expect(err.message).toBe(`${file} changed kind between scan and open (now a symlink)`);
  });
});

describe('skipReasonOf', () => {
  it('skips a changed source with its reason, and a file system refusal with its message', async () => {
    expect(skipReasonOf(new SourceChangedError('/t/a', 'changed kind between scan and open (now a FIFO)'))).toBe(
      'changed kind between scan and open (now a FIFO)',
    );
    const enoent = await openSourceFile('/nonexistent/backstream', { dev: 0, ino: 0 }).catch((e: unknown) => e);
    expect(skipReasonOf(enoent)).toMatch(/^cannot read: .*ENOENT/);
  });

  it('gives no reason for anything else: the backup fails', () => {
    expect(skipReasonOf(new BackstreamError('STORE_UNAVAILABLE', 'store down', { retriable: true }))).toBeUndefined();
    expect(skipReasonOf(new Error('boom'))).toBeUndefined();
    expect(skipReasonOf(undefined)).toBeUndefined();
  });
});
