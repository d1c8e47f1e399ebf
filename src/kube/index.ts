// The generic Kubernetes runtime: one import for the controller.
export * from './types.js';
export * from './errors.js';
export { kubeRequest, kubeStreamLines, resourcePath, type KubeRequest, type KubeStream } from './http.js';
export * from './client.js';
export type { KubeConfig } from './kube-config.js';
export * from './apply.js';
export * from './informer.js';
export * from './workqueue.js';
export * from './leader.js';
export * from './events.js';
