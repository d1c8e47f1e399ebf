// `relay` command-line flags. Pure: argv in, options or a usage error out.
import { MOUNTS, RELAY_CONFIG_KEY } from '../common/relay-config.js';

export const RELAY_USAGE = `smtp-relay-operator relay [options]

Runs the SMTP relay. Reads only files: the config JSON and the directories it names.

Options:
  --config PATH                 relay config JSON (default ${MOUNTS.config}/${RELAY_CONFIG_KEY})
  --tls-dir DIR                 override tls.dir (tls.crt, tls.key)
  --users-dir DIR               override usersDir (one file per user)
  --upstream-credentials-dir DIR  override upstream.credentialsDir (username, password)
  --upstream-ca-dir DIR         override upstream.caDir (ca.crt)
  --dkim-dir DIR                override dkim.keyDir (private.key)
  --listen-host HOST            address the SMTP listeners bind to (default :: / 0.0.0.0)
  --metrics-host HOST           address /metrics, /healthz, /readyz bind to (default 0.0.0.0)
  --metrics-port PORT           override metricsPort (0 = any free port)
  --help                        show this help
`;

export interface RelayArgs {
  configPath: string;
  tlsDir?: string;
  usersDir?: string;
  upstreamCredentialsDir?: string;
  upstreamCaDir?: string;
  dkimDir?: string;
  listenHost?: string;
  metricsHost?: string;
  metricsPort?: number;
  help: boolean;
}

const VALUE_FLAGS: Record<string, keyof RelayArgs> = {
  '--config': 'configPath',
  '--tls-dir': 'tlsDir',
  '--users-dir': 'usersDir',
  '--upstream-credentials-dir': 'upstreamCredentialsDir',
  '--upstream-ca-dir': 'upstreamCaDir',
  '--dkim-dir': 'dkimDir',
  '--listen-host': 'listenHost',
  '--metrics-host': 'metricsHost',
  '--metrics-port': 'metricsPort',
};

export class UsageError extends Error {}

export function parseRelayArgs(argv: string[]): RelayArgs {
  const out: RelayArgs = { configPath: `${MOUNTS.config}/${RELAY_CONFIG_KEY}`, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = VALUE_FLAGS[flag];
    if (!key) throw new UsageError(`unknown option '${arg}'`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new UsageError(`option ${flag} needs a value`);
    if (key === 'metricsPort') {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--metrics-port must be a port number 0-65535, got '${value}'`);
      out.metricsPort = port;
    } else {
      (out as unknown as Record<string, string>)[key] = value;
    }
  }
  return out;
}
