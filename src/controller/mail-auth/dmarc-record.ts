// DMARC policy records (RFC 7489 6.3, 6.6.3). Pure.
import { parseTagList } from './tag-list.js';

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export type DmarcRecord =
  | { ok: true; policy: DmarcPolicy; subdomainPolicy?: DmarcPolicy; pct: number }
  | { ok: false; error: string };

const POLICIES: readonly string[] = ['none', 'quarantine', 'reject'];

/** RFC 7489 6.6.3: only TXT records starting with v=DMARC1 count. */
export function isDmarcRecord(txt: string): boolean {
  return /^v\s*=\s*DMARC1\s*(;|$)/.test(txt);
}

export function parseDmarcRecord(record: string): DmarcRecord {
  const parsed = parseTagList(record);
  if (!parsed.ok) return parsed;
  const { tags, order } = parsed;
  if (order[0] !== 'v' || tags.get('v') !== 'DMARC1') return { ok: false, error: 'v=DMARC1 must come first' };
  const p = tags.get('p')?.toLowerCase();
  if (p === undefined) return { ok: false, error: 'no p= tag' };
  if (!POLICIES.includes(p)) return { ok: false, error: `p=${p} is not none, quarantine or reject` };
  const sp = tags.get('sp')?.toLowerCase();
  if (sp !== undefined && !POLICIES.includes(sp)) return { ok: false, error: `sp=${sp} is not none, quarantine or reject` };
  const pctText = tags.get('pct') ?? '100';
  const pct = /^\d{1,3}$/.test(pctText) ? Number(pctText) : NaN;
  if (!(pct >= 0 && pct <= 100)) return { ok: false, error: `pct=${pctText} is not 0-100` };
  return { ok: true, policy: p as DmarcPolicy, ...(sp !== undefined ? { subdomainPolicy: sp as DmarcPolicy } : {}), pct };
}
