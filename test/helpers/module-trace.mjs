// Loaded with `node --import` into a process under test: records the URL of every module the
// process resolves (import and require) and writes them, one a line, to $MODULE_TRACE_FILE
// when it exits. Child processes it spawns are not traced (they do not inherit --import).
import fs from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.MODULE_TRACE_FILE;
if (!file) throw new Error('module-trace.mjs needs MODULE_TRACE_FILE');
const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    seen.add(resolved.url);
    return resolved;
  },
});
process.on('exit', () => fs.writeFileSync(file, [...seen].join('\n')));
