// DNS health of mail authentication (SPF, DKIM, DMARC) of a relay's sender domains.
export * from './txt-answer.js';
export * from './tag-list.js';
export * from './dkim-record.js';
export * from './dmarc-record.js';
export * from './spf-record.js';
export * from './evaluate.js';
export * from './condition.js';
export * from './events.js';
export * from './schedule.js';
export * from './targets.js';
export * from './lookup.js';
export * from './monitor.js';
