// Parsing the `probe` command line. Pure: argv in, options or a usage error out.
import { normalizeFingerprint } from './certificates.js';
import type { ProbeMode } from './types.js';

export const PROBE_USAGE = `smtp-relay-operator probe HOST:PORT [options]

Probe the TLS an SMTP endpoint really serves, with one connection (add --deep for a full scan).
Inside TLS and without AUTH it also asks to relay from and to reserved outside addresses
(*@open-relay-check.invalid): a server that accepts the recipient is an open relay. It never
sends DATA: the transaction is reset and the session ended.

Options:
  --mode starttls|implicit     STARTTLS after a plaintext greeting (587, 25) or TLS from the first byte (465).
                               Default: implicit for port 465, starttls otherwise.
  --servername NAME            Name for SNI and the certificate check (default: HOST).
  --ca FILE                    Extra trusted CA certificates (PEM), on top of the system roots. Repeatable.
  --expected-fingerprint HEX   SHA-256 of the certificate the server should serve (hex, colons optional).
  --expiry-warning DURATION    Warn when a certificate expires within this time, e.g. 14d, 336h (default 14d).
  --deep                       Also scan legacy protocols, weak suites, groups, renegotiation, STARTTLS injection.
  --json                       Print JSON instead of the report.
  --timeout MS                 Time budget for the probe (and for each deep-scan handshake); default 10000.
  -h, --help                   Show this help.

Exit codes: 0 healthy, 1 warnings, 2 failures, 64 usage error.
`;

export interface ProbeArgs {
  host: string;
  port: number;
  mode: ProbeMode;
  servername?: string;
  caFiles: string[];
  expectedFingerprint?: string;
  expiryWarningMs: number;
  deep: boolean;
  json: boolean;
  timeoutMs: number;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'error'; message: string } | { kind: 'ok'; args: ProbeArgs };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `14d`, `336h`, `2h30m`, `90s`, `500ms`; a bare number is days. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * UNITS.d!;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
}

/** `host:port`, `[v6]:port`. */
export function parseTarget(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]\s]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

export function parseProbeArgs(argv: string[]): ParsedArgs {
  const err = (message: string): ParsedArgs => ({ kind: 'error', message });
  let target: string | undefined;
  let mode: ProbeMode | undefined;
  const out: Omit<ProbeArgs, 'host' | 'port' | 'mode'> = { caFiles: [], expiryWarningMs: 14 * UNITS.d!, deep: false, json: false, timeoutMs: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '-h':
      case '--help':
        return { kind: 'help' };
      case '--deep':
        out.deep = true;
        break;
      case '--json':
        out.json = true;
        break;
      case '--mode': {
        const v = value();
        if (v !== 'starttls' && v !== 'implicit') return err(`--mode must be starttls or implicit, got '${v ?? ''}'`);
        mode = v;
        break;
      }
      case '--servername': {
        const v = value();
        if (!v || !/^[A-Za-z0-9.:_-]+$/.test(v)) return err(`--servername needs a host name, got '${v ?? ''}'`);
        out.servername = v;
        break;
      }
      case '--ca': {
        const v = value();
        if (!v) return err('--ca needs a file');
        out.caFiles.push(v);
        break;
      }
      case '--expected-fingerprint': {
        const v = value();
        const fp = v ? normalizeFingerprint(v) : undefined;
        if (!fp) return err(`--expected-fingerprint must be a SHA-256 in hex (64 hex digits, colons allowed), got '${v ?? ''}'`);
        out.expectedFingerprint = fp;
        break;
      }
      case '--expiry-warning': {
        const v = value();
        const ms = v ? parseDuration(v) : undefined;
        if (ms === undefined) return err(`--expiry-warning must be a duration like 14d or 336h, got '${v ?? ''}'`);
        out.expiryWarningMs = ms;
        break;
      }
      case '--timeout': {
        const v = value();
        const ms = v && /^\d+$/.test(v) ? Number(v) : NaN;
        if (!(ms >= 100 && ms <= 600_000)) return err(`--timeout must be milliseconds between 100 and 600000, got '${v ?? ''}'`);
        out.timeoutMs = ms;
        break;
      }
      default:
        if (arg.startsWith('-')) return err(`unknown option '${arg}'`);
        if (target) return err(`unexpected argument '${arg}' (the target is already '${target}')`);
        target = arg;
    }
  }
  if (!target) return err('missing HOST:PORT');
  const parsed = parseTarget(target);
  if (!parsed) return err(`'${target}' is not HOST:PORT (use [addr]:port for IPv6)`);
  return { kind: 'ok', args: { ...parsed, mode: mode ?? (parsed.port === 465 ? 'implicit' : 'starttls'), ...out } };
}
