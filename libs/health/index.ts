export { probeKafka, probeStore, type ProbeResult } from './probes';
export { Readiness, type CheckState, type ConsumerWatcher, type ReadinessReport } from './readiness';
export { startHealthServer, type HealthServer, type HealthServerOptions } from './server';
