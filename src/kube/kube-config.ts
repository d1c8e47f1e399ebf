// What our transport (http.ts) needs from a kubeconfig: the server, and the TLS and
// authentication options of one request. Two things satisfy it:
// - KubeCredentials (credentials.ts): what the operator runs with. client-node loads the
//   kubeconfig in a short-lived child process, so its import graph never sits in the
//   long-lived operator's memory;
// - client-node's own KubeConfig (tests and benches may pass one).
import type https from 'node:https';

export interface KubeConfig {
  getCurrentCluster(): { readonly server: string } | null;
  /** Sets ca/cert/key/servername/rejectUnauthorized, auth and headers (Authorization) for one request. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
  /**
   * Called after the API server answered 401 Unauthorized. Resolves true when it obtained
   * different credentials, so the caller retries once; false when a retry would not help.
   */
  refreshAfterUnauthorized?(): Promise<boolean>;
}
