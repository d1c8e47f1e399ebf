// `smtp-relay-operator relay`: what the relay pods run.
import { createLogger } from '../common/logger.js';
import { parseRelayArgs, RELAY_USAGE, UsageError } from './args.js';
import { applyArgOverrides, loadRelayConfig } from './config.js';
import { RelayRuntime } from './relay.js';

export async function runRelay(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRelayArgs(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`relay: ${err.message}\n\n${RELAY_USAGE}`);
      return 64;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(RELAY_USAGE);
    return 0;
  }
  const log = createLogger('relay');
  let runtime: RelayRuntime;
  try {
    const config = applyArgOverrides(await loadRelayConfig(parsed.configPath), parsed);
    runtime = new RelayRuntime({ config, logger: log, listenHost: parsed.listenHost, metricsHost: parsed.metricsHost });
    await runtime.start();
  } catch (err) {
    log.error('relay cannot start', { error: (err as Error).message });
    await new Promise((r) => setTimeout(r, 50)); // let the log line out
    return 1;
  }
  process.on('uncaughtException', (err) => log.error('uncaught exception (kept running)', { error: err.message, stack: err.stack }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection (kept running)', { error: String(err) }));
  return new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      log.info('signal received', { signal });
      runtime.stop().then(
        () => {
          // Everything is closed; a stray handle must not keep a terminating pod alive.
          setTimeout(() => process.exit(0), 1000).unref();
          resolve(0);
        },
        (err: Error) => {
          log.error('shutdown failed', { error: err.message });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
