// SPF records (RFC 7208 4.5): the TXT records of a domain that start with "v=spf1".
// No evaluation of mechanisms: the operator reports the record, it does not judge it.
// Pure.

/** "v=spf1" followed by a space or the end, case-insensitively (RFC 7208 4.5). */
export function isSpfRecord(txt: string): boolean {
  return /^v=spf1( |$)/i.test(txt);
}

export function spfRecords(txts: readonly string[]): string[] {
  return txts.filter(isSpfRecord);
}
