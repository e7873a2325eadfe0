import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAMESPACE } from '@opentelemetry/semantic-conventions/incubating';
import type { BackstreamConfig } from '../config';
import { withTimeout } from '../errors';
import type { Logger } from '../log';
import { resetMetrics } from './metrics';
import { setTracingEnabled } from './state';

export interface TelemetryOptions {
  /** `chunk-worker`, `backup`, …: the service.name of everything this process reports. */
  service: string;
  /** Serve metrics for Prometheus (long-running services; a CLI run has no one to scrape it). */
  serveMetrics: boolean;
  logger?: Logger;
}

export interface Telemetry {
  /** Whether spans are recorded and exported. */
  readonly tracing: boolean;
  /** Answers GET /metrics in the Prometheus text format; undefined when metrics are off. */
  readonly metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** Flushes what is buffered (within `timeoutMs`) and stops exporting. */
  shutdown(timeoutMs?: number): Promise<void>;
}

const OFF: Telemetry = { tracing: false, metricsHandler: undefined, shutdown: () => Promise.resolve() };

function withPath(endpoint: string, path: string): string {
  return `${endpoint.replace(/\/+$/, '')}${path}`;
}

/**
 * Starts OpenTelemetry for this process as configured: traces exported over OTLP/HTTP when
 * telemetry.otlpEndpoint is set, metrics served for Prometheus and/or pushed over OTLP. With
 * neither, nothing is started and the OpenTelemetry API stays a no-op. Only our own spans
 * and metrics are recorded (no auto-instrumentation): the pipeline's hot paths are
 * instrumented by hand where a message or an S3 request is handled.
 */
export function startTelemetry(config: BackstreamConfig['telemetry'], options: TelemetryOptions): Telemetry {
  const otlp = config.otlpEndpoint !== '';
  const prometheus = options.serveMetrics && config.prometheus;
  if (!otlp && !prometheus) return OFF;

  // The SDK's own complaints (an unreachable collector) go to our log, not to the console.
  const { logger } = options;
  if (logger) {
    diag.setLogger(
      {
        error: (msg, ...args) => logger.warn({ otel: args.map(String) }, `telemetry: ${msg}`),
        warn: (msg, ...args) => logger.warn({ otel: args.map(String) }, `telemetry: ${msg}`),
        info: () => undefined,
        debug: () => undefined,
        verbose: () => undefined,
      },
      DiagLogLevel.WARN,
    );
  }

  const readers: IMetricReader[] = [];
  let exporter: PrometheusExporter | undefined;
  if (prometheus) {
    // Served by our health server on the health port rather than a second listener.
    exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    readers.push(exporter);
  }
  const spanProcessors: SpanProcessor[] = [];
  if (otlp) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: withPath(config.otlpEndpoint, '/v1/metrics') }),
        exportIntervalMillis: config.metricsExportIntervalMs,
      }),
    );
    spanProcessors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: withPath(config.otlpEndpoint, '/v1/traces') }), {
        // Bounded: a collector that is down costs dropped spans, never memory.
        maxQueueSize: 8192,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1000,
      }),
    );
  }

  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.service,
      [ATTR_SERVICE_NAMESPACE]: 'backstream',
      [ATTR_SERVICE_INSTANCE_ID]: `${hostname()}-${process.pid}`,
    }),
    autoDetectResources: false,
    // Everything explicit, so OTEL_* variables cannot add exporters behind the config's back.
    spanProcessors,
    metricReaders: readers,
    logRecordProcessors: [],
    instrumentations: [],
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.traceSampleRatio) }),
  });
  resetMetrics();
  sdk.start();
  setTracingEnabled(otlp);

  let stopped: Promise<void> | undefined;
  return {
    tracing: otlp,
    metricsHandler: exporter ? (req, res) => exporter.getMetricsRequestHandler(req, res) : undefined,
    shutdown: (timeoutMs = 5000) => {
      stopped ??= (async () => {
        // Best effort: an unreachable collector must not hold the exit.
        await withTimeout(sdk.shutdown(), timeoutMs, () => new Error('telemetry flush timed out')).catch(
          () => undefined,
        );
        setTracingEnabled(false);
        trace.disable();
      })();
      return stopped;
    },
  };
}
