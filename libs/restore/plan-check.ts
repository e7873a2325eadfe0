import { compareTreePaths } from '../backup/walk';
import type { FileEvent } from '../events';

/** What the plan check needs of a file-list line. */
export type PlanEntry = Pick<FileEvent, 'path' | 'kind' | 'part' | 'last' | 'target'>;

/** One reason a snapshot cannot be restored safely, naming the entry. */
export interface PlanProblem {
  path: string;
  message: string;
}

/**
 * Why `path` cannot name an entry below the target, or undefined when it can: the root is
 * ".", anything else is "/"-separated names, none empty, ".", ".." or holding a NUL.
 */
export function pathProblem(path: string): string | undefined {
  if (path.includes('\0')) return 'holds a NUL byte';
  if (path === '.') return undefined;
  if (path.startsWith('/')) return 'is absolute';
  const names = path.split('/');
  if (names.includes('')) return 'has an empty name (a leading, doubled or trailing "/")';
  if (names.includes('..')) return 'has a ".." component';
  if (names.includes('.')) return 'has a "." component';
  return undefined;
}

const parentOf = (path: string): string => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.');

/**
 * Checks a file list, line by line in its stored order, for what the producer's walk
 * (libs/backup/walk.ts) guarantees: strictly increasing compareTreePaths order, every
 * entry's parent a directory listed before it, "." (if present) first and a directory,
 * parts of one file consecutive. This rules out duplicates, kind changes and paths below a
 * symlink or a file. State is the current directory chain only: bounded by path depth,
 * not by snapshot size. Each bad entry is reported and then ignored.
 */
export class PlanCheck {
  readonly problems: PlanProblem[] = [];
  /** The entries that are ancestors of the last accepted one, and it, outermost first. */
  private readonly chain: Array<{ path: string; kind: PlanEntry['kind'] }> = [];
  private lastPath: string | undefined;
  private lastKind: PlanEntry['kind'] = 'dir';
  private previous: PlanEntry | undefined;

  add(e: PlanEntry): void {
    const previous = this.previous;
    this.previous = e;
    if (e.part > 0) {
      if (
        !previous ||
        previous.path !== e.path ||
        previous.kind !== e.kind ||
        previous.part !== e.part - 1 ||
        previous.last
      )
        this.problem(e.path, `part ${e.part} does not follow part ${e.part - 1} of the same entry`);
      return;
    }
    if (previous && !previous.last) this.problem(previous.path, 'has no last part');
    const bad = pathProblem(e.path);
    if (bad) return this.problem(e.path, bad);
    if (e.kind === 'symlink' && (e.target === '' || e.target?.includes('\0')))
      return this.problem(e.path, 'has an empty symlink target or one holding a NUL byte');
    if (this.lastPath !== undefined && compareTreePaths(this.lastPath, e.path) >= 0) {
      const earlier = this.lastPath === e.path ? this.lastKind : this.chain.find((c) => c.path === e.path)?.kind;
      if (earlier) return this.problem(e.path, `appears twice (${earlier}, then ${e.kind})`);
      return this.problem(e.path, `is out of order (after "${this.lastPath}")`);
    }
    if (e.path === '.') {
      if (e.kind !== 'dir') return this.problem(e.path, `is the root but a ${e.kind}, not a directory`);
      this.lastPath = e.path;
      return;
    }
    while (this.chain.length > 0 && !e.path.startsWith(`${(this.chain.at(-1) as { path: string }).path}/`))
      this.chain.pop();
    const parent = parentOf(e.path);
    const top = this.chain.at(-1);
    if (parent !== '.') {
      if (top?.path !== parent) return this.problem(e.path, `has no directory "${parent}" listed before it`);
      if (top.kind !== 'dir') return this.problem(e.path, `is below "${parent}", a ${top.kind}`);
    }
    this.chain.push({ path: e.path, kind: e.kind });
    this.lastPath = e.path;
    this.lastKind = e.kind;
  }

  /** Call after the last line. */
  finish(): void {
    if (this.previous && !this.previous.last) this.problem(this.previous.path, 'has no last part');
  }

  private problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }
}

/**
 * Runs PlanCheck over a whole file list; stops reading after `maxProblems` problems.
 * Returns the problems found (none: the list is safe to restore in one pass).
 */
export async function checkPlan(
  entries: AsyncIterable<PlanEntry> | Iterable<PlanEntry>,
  maxProblems = 10,
): Promise<PlanProblem[]> {
  const check = new PlanCheck();
  for await (const e of entries) {
    check.add(e);
    if (check.problems.length >= maxProblems) return check.problems.slice(0, maxProblems);
  }
  check.finish();
  return check.problems.slice(0, maxProblems);
}

/** The problems as one line: `"a" appears twice (file, then file); "l/x" is below "l", a symlink`. */
export function describeProblems(problems: PlanProblem[]): string {
  return problems.map((p) => `"${p.path}" ${p.message}`).join('; ');
}
