// How tests start the product as a real process: the compiled CLI on the Node
// that runs the tests (Node 24 from node_modules). scripts/test.mjs builds dist/ first.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli.js');
export const nodeBin = process.execPath;
