// The prober's library API, as the operator uses it.
export { probeEndpoint, DEFAULT_EXPIRY_WARNING_MS, DEFAULT_TIMEOUT_MS } from './fast-probe.js';
export { deepScan, DEEP_SCAN_CHECKS } from './deep-scan.js';
export { TlsSessionCache, DEFAULT_FULL_HANDSHAKE_EVERY_MS } from './session-cache.js';
export { toEndpointStatus, deepScanFromStatus, tlsHealthSummary, conditionReason, type EndpointStatusInput } from './endpoint-status.js';
export { verdictOf, worstVerdict, exitCodeFor, EXIT } from './outcome.js';
export { REASONS, reasonSentence, isReasonCode, type ReasonCode } from './reasons.js';
export { fingerprintOf, normalizeFingerprint } from './certificates.js';
export { renderReport } from './report.js';
export type * from './types.js';
