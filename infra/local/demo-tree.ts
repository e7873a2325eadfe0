/**
 * Writes the sample tree `make demo` backs up: every kind of entry the producer handles
 * (a file larger than 64 MiB and a duplicate of it, text, hundreds of small files, empty
 * files, symlinks, non-ASCII names, unusual modes), the same bytes on every run.
 *   node dist/infra/local/demo-tree.js --out DIR [--large-mib 72] [--small-files 400]
 */
import { parseArgs } from 'node:util';
import { generateTree } from '../../test/support/tree';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    'large-mib': { type: 'string', default: '72' },
    'small-files': { type: 'string', default: '400' },
  },
});
const largeMiB = Number(values['large-mib']);
const smallFiles = Number(values['small-files']);
if (!values.out || !Number.isInteger(largeMiB) || largeMiB < 0 || !Number.isInteger(smallFiles) || smallFiles < 0) {
  process.stderr.write('usage: demo-tree --out DIR [--large-mib N] [--small-files N]\n');
  process.exit(2);
}
generateTree(values.out, { largeFileBytes: largeMiB * 1024 * 1024, smallFiles, seed: 1 }).catch((err: unknown) => {
  process.stderr.write(`demo-tree: ${String(err)}\n`);
  process.exit(1);
});
