export { probeKafka, probeStore } from './probes';
export type { ProbeResult } from './probes';
