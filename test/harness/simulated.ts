// Labels for test names: which Kubernetes component a test stands in for (issue 14).
// The test control plane runs no kube-controller-manager, scheduler, kubelet or kube-proxy,
// so some tests play one of them. Every test (or describe block) whose result depends on
// such a stand-in ends its name with the matching label, so a test report shows what a
// green result does not prove. One wording for all: `[simulated: <component>]`.
// The real-node counterparts are in test/node/ (issue 14). See README.md in this directory.

/** The test writes a Deployment's status as the deployment controller would (simulateDeploymentAvailable, simulateAvailableIn, a PATCH of /status). */
export const SIM_DEPLOYMENT_STATUS = '[simulated: Deployment status]';

/** The test runs the relay pod itself: a local process on the pod's volumes, projected kubelet-style. */
export const SIM_KUBELET = '[simulated: kubelet]';

/** Service DNS and ClusterIP routing: the probe dials the 127.0.0.1 ports of the local.smtprelay.dev/endpoints annotation (--probe-local-endpoints). */
export const SIM_SERVICE_ROUTING = '[simulated: Service routing]';

/** The test makes the /scale writes the HorizontalPodAutoscaler controller would make. */
export const SIM_HPA_CONTROLLER = '[simulated: HPA controller]';

/** The DEV-ONLY local runtime (local-runtime.ts): relay pods as local processes, Service endpoints annotated, workload status written by it. */
export const SIM_LOCAL_RUNTIME = '[simulated: kubelet, Service routing, workload status (local runtime)]';
