#!/usr/bin/env node
'use strict';
// The `backstream` command: a shim over the compiled CLI in dist/.
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'services', 'cli', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(entry)) {
    process.stderr.write('backstream: not built yet: run `make build` (or `npm run build`) in the repository\n');
    process.exit(2);
  }
  throw err;
}
cli.main(process.argv);
