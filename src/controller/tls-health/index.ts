// TLS health of the relays: scheduling, targets, status churn rules, events, metrics.
export * from './schedule.js';
export * from './targets.js';
export * from './churn.js';
export * from './events.js';
export * from './metrics.js';
export * from './scheduler.js';
