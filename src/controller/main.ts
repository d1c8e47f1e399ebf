// `smtp-relay-operator operator`: parse flags, connect, run until SIGTERM/SIGINT.
import { createLogger } from '../common/logger.js';
import { loadKubeConfig } from '../kube/client.js';
import { createRelayEventRecorder } from './events.js';
import { FlagError, OPERATOR_USAGE, parseOperatorFlags } from './flags.js';
import { createLeaderElector } from './leader.js';
import { startOperator } from './operator.js';

export async function runOperator(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseOperatorFlags(args);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`operator: ${err.message}\n\n${OPERATOR_USAGE}`);
      return 64;
    }
    throw err;
  }
  if (opts === 'help') {
    process.stdout.write(OPERATOR_USAGE);
    return 0;
  }
  const logger = createLogger('operator');
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig: opts.kubeconfig, onCredentialError: (error) => logger.warn('Kubernetes credentials', { error }) });
  } catch (err) {
    logger.error('cannot connect to Kubernetes', { error: err instanceof Error ? err.message : String(err) });
    return 1;
  }

  const operator = await startOperator(opts, {
    kubeConfig: kc,
    logger,
    leader: opts.leaderElect ? createLeaderElector(kc, opts.leaderElectionNamespace, opts.leaderElectionId, logger) : undefined,
    recordEvent: createRelayEventRecorder(kc, logger),
  });
  logger.info('operator started', {
    namespaces: opts.namespaces?.join(',') ?? '(all)',
    metricsPort: operator.metricsPort,
    healthPort: operator.healthPort,
    leaderElect: opts.leaderElect,
    tlsProbe: opts.tlsProbe,
  });

  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
  });
  const outcome = await Promise.race([signalled.then((sig) => ({ signal: sig })), operator.done.then((d) => ({ ended: d.reason }))]);
  if ('signal' in outcome) {
    logger.info('shutting down', { signal: outcome.signal });
    await operator.stop();
    logger.info('stopped');
    return 0;
  }
  // Stopped on its own (lost the lease): exit non-zero so the pod restarts and campaigns again.
  logger.error('operator stopped', { reason: outcome.ended });
  return 1;
}
