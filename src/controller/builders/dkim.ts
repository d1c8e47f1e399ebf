// The relay's DKIM keys as the builders see them: spec.dkim's single key or its `keys`, each
// with the Secret it comes from, the directory it is mounted at and the volume item that
// projects the named key onto `private.key`. Pure: spec in, plain data out.
import { DKIM_PRIVATE_KEY_FILE } from '../../api/schema-dkim.js';
import type { SmtpRelay } from '../../api/types.js';
import { MOUNTS, type RelayDkimKey } from '../../common/relay-config.js';

export interface EffectiveDkimKey {
  domain: string;
  selector: string;
  secret: string;
  /** The Secret key holding the PEM private key. */
  secretKey: string;
  volumeName: string;
  mountPath: string;
  /** undefined: the whole Secret (the single key with the default key name, mounted as before). */
  items?: { key: string; path: string }[];
}

/** One entry per signing domain, in spec order. */
export function effectiveDkimKeys(relay: SmtpRelay): EffectiveDkimKey[] {
  const d = relay.spec.dkim;
  if (!d) return [];
  if (d.keys) {
    // One directory per domain; volume names by position (a domain may be 253 characters, a volume name 63).
    return d.keys.map((k, i) => {
      const secretKey = k.keySecretRef.privateKeyKey ?? DKIM_PRIVATE_KEY_FILE;
      return {
        domain: k.domain,
        selector: k.selector,
        secret: k.keySecretRef.name,
        secretKey,
        volumeName: `dkim-${i}`,
        mountPath: `${MOUNTS.dkim}/${k.domain}`,
        items: [{ key: secretKey, path: DKIM_PRIVATE_KEY_FILE }],
      };
    });
  }
  if (!d.selector || !d.domain || !d.keySecretRef) return [];
  const secretKey = d.keySecretRef.privateKeyKey ?? DKIM_PRIVATE_KEY_FILE;
  return [
    {
      domain: d.domain,
      selector: d.selector,
      secret: d.keySecretRef.name,
      secretKey,
      volumeName: 'dkim',
      mountPath: MOUNTS.dkim,
      ...(secretKey === DKIM_PRIVATE_KEY_FILE ? {} : { items: [{ key: secretKey, path: DKIM_PRIVATE_KEY_FILE }] }),
    },
  ];
}

/** relay.json `dkim`: always the list shape. */
export function renderDkim(relay: SmtpRelay): RelayDkimKey[] | undefined {
  const keys = effectiveDkimKeys(relay);
  return keys.length > 0 ? keys.map((k) => ({ domain: k.domain, selector: k.selector, keyDir: k.mountPath })) : undefined;
}
