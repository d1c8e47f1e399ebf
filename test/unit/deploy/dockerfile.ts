// A small Dockerfile reader and the rules our image must keep. Kept apart from
// the test so the test can show that each rule really rejects a bad Dockerfile.

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string | undefined;
  /** FROM argument after ARG substitution. */
  base: string;
  instructions: Instruction[];
}

/** Joins continuation lines, drops comments and blank lines, substitutes global ARGs in FROM. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) && pending === '') continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s*(.*)$/s.exec(line);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'ARG' && stages.length === 0) {
      const [k, v] = args.split('=', 2);
      globalArgs[k!.trim()] = (v ?? '').trim();
      continue;
    }
    if (keyword === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--platform'));
      const base = parts[0]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs[name] ?? '');
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS');
      stages.push({ name: asIndex >= 0 ? parts[asIndex + 1] : undefined, base, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args });
  }
  return stages;
}

export const DEV_DEPENDENCIES = ['typescript', 'jest', 'ts-jest', 'tsx', '@types', '@jest', 'node'];

function isNode24(image: string): boolean {
  return /(^|\/)node:24([.-]|$)/.test(image) || /distroless\/nodejs24-/.test(image);
}

/** Problems with the Dockerfile; empty when it follows every rule. */
export function auditDockerfile(text: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  const runtime = stages.at(-1);
  if (!runtime) return ['no FROM instruction'];
  if (stages.length < 2) problems.push('not a multi-stage build');
  for (const s of stages) if (!isNode24(s.base)) problems.push(`stage ${s.name ?? '?'} is not based on Node 24: ${s.base}`);

  const users = runtime.instructions.filter((i) => i.keyword === 'USER');
  const user = users.at(-1)?.args;
  if (!user) problems.push('runtime stage sets no USER');
  else {
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!m) problems.push(`runtime USER is not numeric: ${user}`);
    else if (Number(m[1]) === 0) problems.push('runtime USER is root');
  }

  const entry = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  if (!entry) problems.push('runtime stage has no ENTRYPOINT');
  else {
    let argv: unknown;
    try {
      argv = JSON.parse(entry.args);
    } catch {
      argv = undefined;
    }
    if (!Array.isArray(argv)) problems.push(`ENTRYPOINT is not exec form: ${entry.args}`);
    else {
      if (!/(^|\/)node$/.test(String(argv[0]))) problems.push(`ENTRYPOINT does not start node: ${argv[0]}`);
      if (argv[1] !== 'dist/cli.js') problems.push(`ENTRYPOINT does not run dist/cli.js: ${argv[1]}`);
    }
  }

  // Supply chain: a base is pulled by digest (a re-pushed tag cannot change it), and
  // no dependency's install script runs in any stage.
  for (const s of stages) {
    if (stages.some((other) => other.name === s.base)) continue; // FROM an earlier stage
    if (!/@sha256:[0-9a-f]{64}$/.test(s.base)) problems.push(`stage ${s.name ?? '?'} base is not pinned by digest: ${s.base}`);
  }
  for (const s of stages) {
    for (const i of s.instructions.filter((x) => x.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(x.args))) {
      if (!/--ignore-scripts\b/.test(i.args)) problems.push(`stage ${s.name ?? '?'} runs install scripts: ${i.args}`);
    }
  }

  if (runtime.instructions.some((i) => i.keyword === 'RUN')) problems.push('runtime stage runs commands (it should only copy)');
  for (const copy of runtime.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
    const from = /--from=(\S+)/.exec(copy.args)?.[1];
    const sources = copy.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1);
    if (!from) {
      const allowed = sources.every((s) => s === 'package.json' || s === 'package-lock.json');
      if (!allowed) problems.push(`runtime stage copies from the build context: ${copy.args}`);
      continue;
    }
    const source = stages.find((s) => s.name === from);
    if (!source) {
      problems.push(`COPY --from=${from} names no stage`);
      continue;
    }
    if (sources.some((s) => s.includes('node_modules'))) {
      const installs = source.instructions.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args));
      if (installs.length === 0) problems.push(`node_modules copied from stage ${from}, which installs nothing`);
      for (const i of installs) if (!/--omit=dev\b/.test(i.args)) problems.push(`node_modules copied from stage ${from}, which installs dev dependencies: ${i.args}`);
    }
  }
  return problems;
}
