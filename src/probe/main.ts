// `smtp-relay-operator probe`: parse, probe, print, exit 0/1/2 (64 on bad usage).
import fs from 'node:fs';
import { parseProbeArgs, PROBE_USAGE, type ProbeArgs } from './args.js';
import { parsePemCertificates } from './certificates.js';
import { deepScan } from './deep-scan.js';
import { probeEndpoint } from './fast-probe.js';
import { EXIT, exitCodeFor, worstVerdict } from './outcome.js';
import { renderReport } from './report.js';
import type { ProbeOptions } from './types.js';

export async function runProbe(argv: string[]): Promise<number> {
  const parsed = parseProbeArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(PROBE_USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`probe: ${parsed.message}\n\n${PROBE_USAGE}`);
    return EXIT.usage;
  }
  const args = parsed.args;
  const ca = readCaFiles(args.caFiles);
  if (typeof ca === 'string') {
    process.stderr.write(`probe: ${ca}\n`);
    return EXIT.usage;
  }
  try {
    const opts = toOptions(args, ca);
    const probe = await probeEndpoint(opts);
    // No TLS at all on the fast path (down, silent, no STARTTLS): a deep scan would only repeat that, slowly.
    const deep = args.deep && probe.tls ? await deepScan(opts) : undefined;
    if (args.deep && !deep && !args.json) process.stderr.write('probe: deep scan skipped: the fast probe did not reach a TLS session\n');
    const verdict = worstVerdict(probe.verdict, ...(deep ? [deep.verdict] : []));
    const exitCode = exitCodeFor(verdict);
    if (args.json) process.stdout.write(`${JSON.stringify({ verdict, exitCode, probe, deepScan: deep }, null, 2)}\n`);
    else process.stdout.write(renderReport(probe, deep, verdict));
    return exitCode;
  } catch (err) {
    // A bug in the prober is a failed probe, never a hang or a crash without a word.
    process.stderr.write(`probe: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failing;
  }
}

function toOptions(args: ProbeArgs, caPem: string[]): ProbeOptions {
  return {
    host: args.host,
    port: args.port,
    mode: args.mode,
    servername: args.servername,
    caPem,
    expectedFingerprint: args.expectedFingerprint,
    expiryWarningMs: args.expiryWarningMs,
    timeoutMs: args.timeoutMs,
  };
}

/** PEM bundles from --ca files, or an error message naming the bad file. */
function readCaFiles(files: string[]): string[] | string {
  const pems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      return `cannot read --ca file '${file}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    try {
      if (parsePemCertificates(text).length === 0) return `--ca file '${file}' contains no PEM certificate`;
    } catch (err) {
      return `--ca file '${file}' has an invalid certificate: ${(err as Error).message}`;
    }
    pems.push(text);
  }
  return pems;
}
