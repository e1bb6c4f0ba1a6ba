/**
 * OpenTelemetry traces, one trace per request: the API's HTTP span → the workflow start (client
 * interceptor) → the workflow run → each (local) activity → the provider call. Temporal's own
 * interceptors carry the context across Temporal in headers; spans of the workflow leave the
 * sandbox through a sink. Exported over OTLP/HTTP only when `tracing.otlpEndpoint` is configured.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ApplicationFailure } from '@temporalio/common';
import type { Context as ActivityContext } from '@temporalio/activity';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetryWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptors, InjectedSinks } from '@temporalio/worker';
import type { RequestHandler } from 'express';
import type { GatewayConfig } from '../config/schema';
import type { ProviderCallInput } from '../contracts/routing';

/** Tracing of one process. */
export interface Tracing {
  tracer: Tracer;
  /** For a Temporal Client: puts the current trace context into every workflow start. */
  clientInterceptor(): OpenTelemetryWorkflowClientInterceptor;
  /** For `interceptors.activity`: Temporal's activity span, then a span around each provider call. */
  activityInterceptors: Array<(ctx: ActivityContext) => ActivityInterceptors>;
  /** For `interceptors.workflowModules`: the workflow side (bundled into the workflow code). */
  workflowModules: string[];
  /** The sink that exports the workflow's spans. */
  workflowSinks: InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

let globalsRegistered = false;

/** Context across awaits and W3C trace context in headers: process-wide, registered once. */
function registerGlobals(): void {
  if (globalsRegistered) return;
  globalsRegistered = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

const PROVIDER_ACTIVITIES = new Set(['callProvider', 'streamProvider']);

/** A span around one provider call, under Temporal's activity span. */
function providerSpan(tracer: Tracer, regions: Map<string, string>) {
  return (ctx: ActivityContext): ActivityInterceptors => ({
    inbound: {
      async execute(input, next) {
        if (!PROVIDER_ACTIVITIES.has(ctx.info.activityType)) return next(input);
        const call = input.args[0] as ProviderCallInput;
        const attributes = {
          'stormproof.target': call.target,
          'stormproof.region': regions.get(call.target) ?? 'unknown',
          'stormproof.model': call.model,
          'stormproof.stream': Boolean(call.request.stream),
          'stormproof.attempt': ctx.info.attempt,
          ...(call.failoverFrom
            ? { 'stormproof.failover_from': call.failoverFrom.target, 'stormproof.failover_reason': call.failoverFrom.reason }
            : {}),
          ...(call.hedge ? { 'stormproof.hedge_target': call.hedge.target } : {}),
        };
        return tracer.startActiveSpan(`provider call ${call.target}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
          try {
            const result = (await next(input)) as { target?: string };
            span.setAttribute('stormproof.outcome', 'ok');
            if (result?.target) span.setAttribute('stormproof.answered_by', result.target);
            return result;
          } catch (err) {
            const type = err instanceof ApplicationFailure ? (err.type ?? 'Error') : (err as Error).name;
            span.setAttribute('stormproof.outcome', type);
            span.recordException(err as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        });
      },
    },
  });
}

/** Tracing that sends every finished span to `spanProcessor` (an OTLP exporter, or a test's memory). */
export function createTracing(opts: { serviceName: string; spanProcessor: SpanProcessor; config?: GatewayConfig }): Tracing {
  registerGlobals();
  const resource = new Resource({ 'service.name': opts.serviceName });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [opts.spanProcessor] });
  const tracer = provider.getTracer('stormproof');
  const regions = new Map((opts.config?.targets ?? []).map((t) => [t.id, t.region]));
  return {
    tracer,
    clientInterceptor: () => new OpenTelemetryWorkflowClientInterceptor({ tracer }),
    activityInterceptors: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      providerSpan(tracer, regions),
    ],
    workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    workflowSinks: { exporter: makeWorkflowExporter(opts.spanProcessor, resource) },
    shutdown: () => provider.shutdown(),
  };
}

/** Tracing as the config asks: OTLP/HTTP to `tracing.otlpEndpoint`, or none. */
export function tracingFromConfig(config: GatewayConfig): Tracing | undefined {
  const url = config.tracing.otlpEndpoint;
  if (!url) return undefined;
  return createTracing({
    serviceName: config.tracing.serviceName,
    config,
    spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url })),
  });
}

/**
 * Express middleware: one server span per API request (continuing a caller's `traceparent`),
 * active while the request is handled, so a workflow started by it joins the same trace.
 */
export function httpTracing(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } }, parent);
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : undefined;
      if (route) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    const ctx = trace.setSpan(parent, span);
    // The body arrives in stream events that belong to the socket, not to this call: bind them.
    context.bind(ctx, req);
    context.bind(ctx, res);
    context.with(ctx, next);
  };
}
