// Adapts the Lease-based election (src/kube/leader.ts) to what the operator
// needs: "wait until I lead", "tell me if I stop leading", "release on shutdown".
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { KubeConfig } from '../kube/kube-config.js';
import type { Logger } from '../common/logger.js';
import { runLeaderElection, type LeaderElectionEnd } from '../kube/leader.js';
import type { LeaderElector } from './operator.js';

export function createLeaderElector(kc: KubeConfig, namespace: string, leaseName: string, logger: Logger): LeaderElector {
  const identity = `${process.env.POD_NAME || os.hostname()}_${randomBytes(4).toString('hex')}`;
  const abort = new AbortController();
  let ended: Promise<LeaderElectionEnd> | undefined;
  return {
    start(onLost) {
      return new Promise<void>((resolve, reject) => {
        let leading = false;
        logger.info('waiting for the leader lease', { lease: `${namespace}/${leaseName}`, identity });
        ended = runLeaderElection({
          kc,
          namespace,
          name: leaseName,
          identity,
          signal: abort.signal,
          onStartedLeading: () => {
            leading = true;
            logger.info('acquired the leader lease', { identity });
            resolve();
          },
          onStoppedLeading: () => {
            if (!abort.signal.aborted) onLost();
          },
          onNewLeader: (holder) => {
            if (holder !== identity) logger.info('another replica leads', { leader: holder });
          },
          onError: (err) => logger.warn('leader election error', { error: err instanceof Error ? err.message : String(err) }),
        });
        ended.then(
          (end) => {
            if (!leading) reject(new Error(`leader election ended before leading (${end})`));
          },
          (err: unknown) => reject(err),
        );
      });
    },
    async release() {
      abort.abort();
      await ended?.catch(() => undefined);
    },
  };
}
