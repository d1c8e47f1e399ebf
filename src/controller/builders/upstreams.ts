// The relay's upstreams as the builders see them: spec.upstream (the shorthand) or
// spec.upstreams, each with the Secrets it needs mounted, the directory each is mounted at,
// and the volume `items` that project the named keys onto the file names the relay reads.
// Pure: spec in, plain data out.
import { DEFAULTS, type NamedUpstreamSpec, type OAuth2ProviderName, type RouteSpec, type SmtpRelay, type UpstreamConnection } from '../../api/types.js';
import { SECRET_KEY_DEFAULTS } from '../../api/schema-upstreams.js';
import { MOUNTS, type OAuth2UpstreamAuth, type RelayRoute, type RelayUpstream } from '../../common/relay-config.js';

/** The name the relay gives the spec.upstream shorthand (GET /queue, metrics). */
export const DEFAULT_UPSTREAM_NAME = 'default';

/** Where a named upstream's Secrets are mounted: one directory per upstream and purpose. */
export const UPSTREAMS_MOUNT_ROOT = '/etc/smtp-relay/upstreams';

export type UpstreamSecretPurpose = 'credentials' | 'ca' | 'oauth2';

export interface KeyToPath {
  key: string;
  path: string;
}

export interface UpstreamSecretMount {
  purpose: UpstreamSecretPurpose;
  /** The Secret's name. */
  secret: string;
  volumeName: string;
  mountPath: string;
  /** Keys projected onto the relay's fixed file names; undefined: the whole Secret (the shorthand with default keys, as before). */
  items?: KeyToPath[];
}

export interface EffectiveUpstream {
  name: string;
  /** True for spec.upstream (rendered as relay.json `upstream`). */
  shorthand: boolean;
  connection: UpstreamConnection;
  oauth2?: NamedUpstreamSpec['oauth2'];
  secrets: UpstreamSecretMount[];
}

const PROVIDERS: Record<OAuth2ProviderName, OAuth2UpstreamAuth['provider']> = {
  Microsoft365: 'microsoft',
  GoogleWorkspace: 'google',
  Generic: 'generic',
};

const item = (key: string | undefined, path: string): KeyToPath => ({ key: key ?? path, path });

/** Items only when a key differs from the file name: an unchanged shorthand keeps today's volume (no pod roll on upgrade). */
const unlessDefault = (items: KeyToPath[]): KeyToPath[] | undefined => (items.every((i) => i.key === i.path) ? undefined : items);

function namedMount(upstream: string, purpose: UpstreamSecretPurpose, secret: string, items: KeyToPath[]): UpstreamSecretMount {
  const short = purpose === 'credentials' ? 'cred' : purpose;
  return { purpose, secret, volumeName: `up-${upstream}-${short}`, mountPath: `${UPSTREAMS_MOUNT_ROOT}/${upstream}/${purpose}`, items };
}

function oauth2Items(o: NonNullable<NamedUpstreamSpec['oauth2']>): { secret: string; items: KeyToPath[] } | undefined {
  if (o.certificateSecretRef) {
    const r = o.certificateSecretRef;
    return { secret: r.name, items: [item(r.certificateKey, SECRET_KEY_DEFAULTS.certificate), item(r.privateKeyKey, SECRET_KEY_DEFAULTS.privateKey)] };
  }
  if (o.serviceAccountSecretRef) {
    const r = o.serviceAccountSecretRef;
    const items = [item(r.serviceAccountKey, SECRET_KEY_DEFAULTS.serviceAccount)];
    // The client secret next to the grant, only for servers that want it (clientID set).
    if (o.clientID) items.push(item(r.clientSecretKey, SECRET_KEY_DEFAULTS.clientSecret));
    return { secret: r.name, items };
  }
  if (o.clientSecretRef) return { secret: o.clientSecretRef.name, items: [item(o.clientSecretRef.clientSecretKey, SECRET_KEY_DEFAULTS.clientSecret)] };
  return undefined;
}

function named(u: NamedUpstreamSpec): EffectiveUpstream {
  const secrets: UpstreamSecretMount[] = [];
  if (u.passwordSecretRef) {
    const r = u.passwordSecretRef;
    secrets.push(namedMount(u.name, 'credentials', r.name, [item(r.usernameKey, SECRET_KEY_DEFAULTS.username), item(r.passwordKey, SECRET_KEY_DEFAULTS.password)]));
  }
  if (u.caSecretRef) secrets.push(namedMount(u.name, 'ca', u.caSecretRef.name, [item(u.caSecretRef.caKey, SECRET_KEY_DEFAULTS.ca)]));
  const o = u.oauth2 ? oauth2Items(u.oauth2) : undefined;
  if (o) secrets.push(namedMount(u.name, 'oauth2', o.secret, o.items));
  const { name: _name, passwordSecretRef: _p, oauth2, ...connection } = u;
  return { name: u.name, shorthand: false, connection, ...(oauth2 ? { oauth2 } : {}), secrets };
}

/** spec.upstream or spec.upstreams, in spec order, with their Secret mounts. */
export function effectiveUpstreams(relay: SmtpRelay): EffectiveUpstream[] {
  const { spec } = relay;
  if (spec.upstreams && spec.upstreams.length > 0) return spec.upstreams.map(named);
  const u = spec.upstream;
  if (!u) return [];
  const secrets: UpstreamSecretMount[] = [];
  if (u.passwordSecretRef?.name) {
    const r = u.passwordSecretRef;
    secrets.push({
      purpose: 'credentials',
      secret: r.name,
      volumeName: 'upstream-credentials',
      mountPath: MOUNTS.upstreamCredentials,
      items: unlessDefault([item(r.usernameKey, SECRET_KEY_DEFAULTS.username), item(r.passwordKey, SECRET_KEY_DEFAULTS.password)]),
    });
  }
  if (u.caSecretRef?.name) {
    secrets.push({ purpose: 'ca', secret: u.caSecretRef.name, volumeName: 'upstream-ca', mountPath: MOUNTS.upstreamCa, items: unlessDefault([item(u.caSecretRef.caKey, SECRET_KEY_DEFAULTS.ca)]) });
  }
  const { passwordSecretRef: _p, ...connection } = u;
  return [{ name: DEFAULT_UPSTREAM_NAME, shorthand: true, connection, secrets }];
}

function renderAuth(o: NonNullable<NamedUpstreamSpec['oauth2']>, secretDir: string): OAuth2UpstreamAuth {
  const auth: OAuth2UpstreamAuth = { type: 'oauth2', provider: PROVIDERS[o.provider], user: o.user, secretDir };
  if (o.tenant) auth.tenant = o.tenant;
  if (o.tokenEndpoint) auth.tokenEndpoint = o.tokenEndpoint;
  if (o.scope) auth.scope = o.scope;
  if (o.clientID) auth.clientId = o.clientID;
  if (o.certificateSecretRef) auth.clientAuth = 'private_key_jwt';
  return auth;
}

/** One upstream as relay.json has it (without the name). */
export function renderUpstream(u: EffectiveUpstream): RelayUpstream {
  const c = u.connection;
  const out: RelayUpstream = { host: c.host, port: c.port ?? DEFAULTS.upstreamPort, tls: c.tls ?? DEFAULTS.upstreamTls };
  if (c.serverName) out.servername = c.serverName;
  const dir = (p: UpstreamSecretPurpose) => u.secrets.find((s) => s.purpose === p)?.mountPath;
  const credentials = dir('credentials');
  if (credentials) out.credentialsDir = credentials;
  const ca = dir('ca');
  if (ca) out.caDir = ca;
  const oauth2Dir = dir('oauth2');
  if (u.oauth2 && oauth2Dir) out.auth = renderAuth(u.oauth2, oauth2Dir);
  return out;
}

/** spec.routes as relay.json routes; unset: one catch-all through every upstream in list order. */
export function renderRoutes(relay: SmtpRelay, upstreams: EffectiveUpstream[]): RelayRoute[] {
  const routes: RouteSpec[] = relay.spec.routes ?? [{ upstreams: upstreams.map((u) => u.name) }];
  return routes.map((r) => {
    const out: RelayRoute = { upstreams: [...r.upstreams] };
    if (r.senderDomains) out.senderDomains = [...r.senderDomains];
    if (r.users) out.users = [...r.users];
    if (r.rewriteFrom) out.rewriteFrom = r.rewriteFrom;
    return out;
  });
}

/** Every port the relay connects to: the upstreams', and 443 for OAuth2 token endpoints. */
export function egressPorts(relay: SmtpRelay): number[] {
  const ups = effectiveUpstreams(relay);
  const ports = new Set(ups.map((u) => u.connection.port ?? DEFAULTS.upstreamPort));
  for (const u of ups) if (u.oauth2) ports.add(tokenEndpointPort(u.oauth2.tokenEndpoint));
  return [...ports].sort((a, b) => a - b);
}

/** The token endpoint's port: 443 for the providers' defaults and https:// URLs without one. */
export function tokenEndpointPort(endpoint: string | undefined): number {
  if (!endpoint) return 443;
  try {
    const url = new URL(endpoint);
    return url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  } catch {
    return 443;
  }
}
