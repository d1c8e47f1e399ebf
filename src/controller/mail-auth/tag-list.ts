// The tag=value lists of DKIM key records (RFC 6376 3.2) and DMARC records
// (RFC 7489 6.4): `tag=value` pairs separated by ";", whitespace around both ignored.
// Pure.

export type TagList = { ok: true; tags: Map<string, string>; order: string[] } | { ok: false; error: string };

export function parseTagList(record: string): TagList {
  const tags = new Map<string, string>();
  const order: string[] = [];
  for (const raw of record.split(';')) {
    const spec = raw.trim();
    if (spec === '') continue; // a trailing ";" is allowed
    const eq = spec.indexOf('=');
    if (eq <= 0) return { ok: false, error: `"${spec}" is not tag=value` };
    const name = spec.slice(0, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return { ok: false, error: `"${name}" is not a tag name` };
    // Tag names are case-sensitive in DKIM; DMARC treats them the same way in practice.
    if (tags.has(name)) return { ok: false, error: `tag ${name}= appears twice` };
    tags.set(name, spec.slice(eq + 1).trim());
    order.push(name);
  }
  return { ok: true, tags, order };
}
