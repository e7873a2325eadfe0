/**
 * Writes the JSON Schema of the native change event to docs/schemas/change-event.schema.json
 * (run from a build: `node dist/libs/changes/write-json-schema.js`). A unit test fails when
 * the committed file differs from what the zod schema generates.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CHANGE_EVENT_SCHEMA_FILE, changeEventJsonSchema } from './schema';

/** The nearest folder above `from` holding package.json: the repository, from libs/ or dist/libs/. */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Prettier's formatting (what `make lint` checks), or plain JSON where prettier is not installed. */
async function format(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const config = await prettier.resolveConfig(file);
    return await prettier.format(text, { ...config, filepath: file });
  } catch {
    return text;
  }
}

async function main(): Promise<void> {
  const file = path.join(repositoryRoot(__dirname), CHANGE_EVENT_SCHEMA_FILE);
  const text = await format(`${JSON.stringify(changeEventJsonSchema(), null, 2)}\n`, file);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
