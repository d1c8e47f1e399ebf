export * from './delivering.js';
export * from './drain.js';
export * from './poller.js';
export * from './targets.js';
export * from './events.js';
