// One TXT lookup's answer as the checks need it. A failed lookup is "unknown", never
// "missing": only NXDOMAIN (the name does not exist) and NODATA (it exists, no TXT)
// say a record is absent. Pure: the error-code mapping is unit-tested.

/** Why a lookup gave no answer; stable names for status and messages. */
export type DnsFailure = 'ServFail' | 'Refused' | 'Timeout' | 'Unreachable' | 'BadResponse' | 'Other';

export type TxtAnswer =
  /** Each TXT record with its character-strings concatenated (RFC 7208 3.3, RFC 6376 3.6.2.2). */
  | { kind: 'records'; records: string[] }
  | { kind: 'nxdomain' }
  | { kind: 'nodata' }
  | { kind: 'failed'; failure: DnsFailure };

/** A TXT lookup: the I/O edge the evaluation is fed from. */
export type TxtLookup = (name: string) => Promise<TxtAnswer>;

/** TXT RRset as node:dns returns it (one array of strings per record) → joined records. */
export function txtRecords(rrset: readonly (readonly string[])[]): TxtAnswer {
  return { kind: 'records', records: rrset.map((strings) => strings.join('')) };
}

/** A node:dns (c-ares) error code → answer. */
export function answerForDnsError(code: string | undefined): TxtAnswer {
  switch (code) {
    case 'ENOTFOUND':
      return { kind: 'nxdomain' };
    case 'ENODATA':
      return { kind: 'nodata' };
    case 'ESERVFAIL':
      return { kind: 'failed', failure: 'ServFail' };
    case 'EREFUSED':
      return { kind: 'failed', failure: 'Refused' };
    case 'ETIMEOUT':
      return { kind: 'failed', failure: 'Timeout' };
    case 'ECONNREFUSED':
      return { kind: 'failed', failure: 'Unreachable' };
    case 'EBADRESP':
    case 'EFORMERR':
    case 'EBADFAMILY':
      return { kind: 'failed', failure: 'BadResponse' };
    default:
      return { kind: 'failed', failure: 'Other' };
  }
}
