#!/usr/bin/env node
// One entry point, one image: `operator`, `relay` and `probe`.
// Each subcommand is loaded lazily so the relay never loads operator code.

const USAGE = `smtp-relay-operator <command> [options]

Commands:
  operator   run the Kubernetes operator (reconciler and TLS-health prober)
  relay      run the SMTP relay (what the relay pods run)
  probe      probe the TLS an SMTP endpoint serves: probe HOST:PORT --mode starttls|implicit

Run 'smtp-relay-operator <command> --help' for a command's options.
`;

type Main = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Main>> = {
  operator: async () => (await import('./controller/main.js')).runOperator,
  relay: async () => (await import('./relay/main.js')).runRelay,
  probe: async () => (await import('./probe/main.js')).runProbe,
};

async function main(argv: string[]): Promise<number> {
  // The Kubernetes client and the relay's TLS groups need Node 24; fail with a clear message, not deep in a dependency.
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    process.stderr.write(`smtp-relay-operator needs Node.js 24 or newer; this is ${process.version}. In a checkout, 'npm ci' installs Node 24 and 'npm start'/'npm test' use it.\n`);
    return 1;
  }
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 64;
  }
  const load = commands[command];
  if (!load) {
    process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
    return 64;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
