// Reads the credentials of an OAuth2 upstream login from its mounted Secret, at every
// token request: a rotated Secret (kubelet swaps ..data) is used without a restart.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { OAuth2Credentials } from './grants.js';
import { OAUTH2_SECRET_FILES, resolveEndpointAndScope, type OAuth2UpstreamAuth } from './settings.js';

export interface LoadedGrant {
  credentials: OAuth2Credentials;
  tokenEndpoint: string;
  scope: string;
}

export async function loadGrant(cfg: OAuth2UpstreamAuth): Promise<LoadedGrant> {
  const read = (name: string) => fs.readFile(path.join(cfg.secretDir, name), 'utf8');
  if (cfg.provider === 'google') {
    const account = parseServiceAccount(await read(OAUTH2_SECRET_FILES.serviceAccount));
    const client = cfg.clientId ? { clientId: cfg.clientId, clientSecret: trimNewline(await read(OAUTH2_SECRET_FILES.clientSecret)) } : undefined;
    return {
      credentials: { type: 'service-account', clientEmail: account.clientEmail, privateKey: account.privateKey, privateKeyId: account.privateKeyId, subject: cfg.user, client },
      ...resolveEndpointAndScope(cfg, account.tokenUri),
    };
  }
  const clientId = cfg.clientId ?? '';
  const credentials: OAuth2Credentials =
    cfg.clientAuth === 'private_key_jwt'
      ? { type: 'client-certificate', clientId, privateKey: await read(OAUTH2_SECRET_FILES.privateKey), certificate: await read(OAUTH2_SECRET_FILES.certificate) }
      : { type: 'client-secret', clientId, clientSecret: trimNewline(await read(OAUTH2_SECRET_FILES.clientSecret)), clientAuth: cfg.clientAuth === 'client_secret_basic' ? 'client_secret_basic' : 'client_secret_post' };
  return { credentials, ...resolveEndpointAndScope(cfg) };
}

/** The fields we use of a Google service account key file; errors name the field, never its value. */
export function parseServiceAccount(text: string): { clientEmail: string; privateKey: string; privateKeyId?: string; tokenUri?: string } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${OAUTH2_SECRET_FILES.serviceAccount} is not JSON`);
  }
  if (typeof json.client_email !== 'string' || typeof json.private_key !== 'string') {
    throw new Error(`${OAUTH2_SECRET_FILES.serviceAccount} needs client_email and private_key`);
  }
  return {
    clientEmail: json.client_email,
    privateKey: json.private_key,
    privateKeyId: typeof json.private_key_id === 'string' ? json.private_key_id : undefined,
    tokenUri: typeof json.token_uri === 'string' ? json.token_uri : undefined,
  };
}

/** A Secret made with `echo` ends in a newline that is not part of the secret. */
function trimNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}
