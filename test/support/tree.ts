import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pseudoRandomBytes } from '../../libs/chunking/pseudo-random';

function text(length: number, seed: number): Buffer {
  const words = ['backup', 'kafka', 'ledger', 'chunk', 'verify', 'restore', 'snapshot', 'block', 'über', 'naïve'];
  const parts: string[] = [];
  let n = seed;
  let size = 0;
  while (size < length) {
    n = (n * 1103515245 + 12345) >>> 0;
    const w = words[n % words.length] as string;
    parts.push(w);
    size += Buffer.byteLength(w) + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, length);
}

export interface TreeSpec {
  /** Size of the one large incompressible file. */
  largeFileBytes: number;
  smallFiles: number;
  /** Varies every byte of the tree: trees with different seeds share no chunk. */
  seed?: number;
}

/**
 * Writes a tree with every kind of entry the producer handles: nested directories, a
 * large incompressible file, compressible text, many small files, duplicated content,
 * empty files, symlinks (relative, absolute, dangling), non-ASCII names, unusual modes,
 * and fixed mtimes.
 */
export async function generateTree(root: string, spec: TreeSpec): Promise<void> {
  const s = (n: number): number => n + (spec.seed ?? 0) * 1_000_003;
  await mkdir(join(root, 'data', 'deep', 'deeper'), { recursive: true });
  await mkdir(join(root, 'docs'), { recursive: true });
  await mkdir(join(root, 'small'), { recursive: true });
  await mkdir(join(root, 'empty-dir'), { recursive: true });
  await mkdir(join(root, 'ünïcödé ✓'), { recursive: true });
  await writeFile(join(root, 'data', 'large.bin'), pseudoRandomBytes(spec.largeFileBytes, s(7)));
  await writeFile(
    join(root, 'data', 'deep', 'deeper', 'copy-of-large.bin'),
    pseudoRandomBytes(spec.largeFileBytes, s(7)),
  );
  await writeFile(join(root, 'docs', 'text.txt'), text(3 * 1024 * 1024 + 11, s(3)));
  await writeFile(join(root, 'docs', 'empty.txt'), Buffer.alloc(0));
  await writeFile(join(root, 'ünïcödé ✓', '日本語 ファイル.txt'), text(5000, s(5)));
  for (let i = 0; i < spec.smallFiles; i++) {
    await writeFile(
      join(root, 'small', `f${String(i).padStart(4, '0')}.dat`),
      pseudoRandomBytes(100 + ((i * 997) % 20000), s(100 + i)),
    );
  }
  await writeFile(join(root, 'data', 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'data', 'script.sh'), 0o750);
  await chmod(join(root, 'docs', 'empty.txt'), 0o600);
  await symlink('../docs/text.txt', join(root, 'data', 'link-to-text'));
  await symlink('/nonexistent/target', join(root, 'dangling-link'));
  await symlink('ünïcödé ✓', join(root, 'link-to-dir'));
  const fixed = new Date('2024-02-29T12:34:56.789Z');
  await utimes(join(root, 'docs', 'text.txt'), fixed, fixed);
}

export interface TreeFacts {
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtimeMs: number;
  sha256?: string;
  target?: string;
}

/** What a tree holds, path by path (root-relative, "/"-separated), read independently of backstream. */
export async function describeTree(root: string): Promise<Map<string, TreeFacts>> {
  const out = new Map<string, TreeFacts>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const base = { size: st.isFile() ? st.size : 0, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
      if (st.isDirectory()) {
        out.set(path, { kind: 'dir', ...base });
        await walk(abs, path);
      } else if (st.isSymbolicLink()) {
        out.set(path, { kind: 'symlink', ...base, target: await readlink(abs) });
      } else {
        out.set(path, {
          kind: 'file',
          ...base,
          sha256: createHash('sha256')
            .update(await readFile(abs))
            .digest('hex'),
        });
      }
    }
  };
  await walk(root, '');
  return out;
}

/** What must survive a round trip: content, kind, mode, symlink target, mtime to the millisecond. */
export function comparable(facts: Map<string, TreeFacts>): Array<[string, unknown]> {
  return [...facts]
    .map(([path, f]): [string, unknown] => [
      path,
      {
        kind: f.kind,
        size: f.size,
        mode: f.mode,
        sha256: f.sha256,
        target: f.target,
        mtimeMs: f.kind === 'symlink' ? undefined : Math.round(f.mtimeMs),
      },
    ])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}
