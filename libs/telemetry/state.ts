/**
 * Whether this process records traces. Read on every message, so it is a plain module
 * flag: with telemetry off, instrumented code skips span work entirely instead of
 * creating no-op spans (the "no measurable cost when disabled" promise).
 */
let tracing = false;

export function tracingEnabled(): boolean {
  return tracing;
}

/** Set by startTelemetry and its shutdown only (and by tests that install a tracer provider). */
export function setTracingEnabled(on: boolean): void {
  tracing = on;
}
