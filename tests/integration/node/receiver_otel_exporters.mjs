// The OpenTelemetry JS OTLP trace exporters (protobuf, JSON and gRPC) sending hand-built GenAI
// spans to the GenOps OTLP receiver (tests/integration/receiver_clients_test.cc runs it).
//
// A BasicTracerProvider with the application's resource builds one trace:
//   "GET /orders"   SERVER, the root: a plain HTTP span (string, int, double, bool and array
//                   attributes, an event, status OK) that must pass through unchanged
//   "chat gpt-4o"   CLIENT, current GenAI conventions: gen_ai.operation.name, gen_ai.provider.name,
//                   gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens 1200,
//                   output_tokens 300, cache_read.input_tokens 200; attributed with span
//                   attributes genops.team / genops.customer_id
//   "openai.chat"   CLIENT, the older keys: gen_ai.system, gen_ai.usage.prompt_tokens 1200,
//                   completion_tokens 300, gen_ai.usage.cache_read_input_tokens 200,
//                   llm.request.type, llm.usage.total_tokens 1500; no attribution of its own
//   "openai.chat"   CLIENT, the oldest shape: no completion count, only llm.usage.total_tokens
//                   1500 next to prompt_tokens 1200 (and cache reads 200); attributed through
//                   Traceloop association properties on the span
//   "chat <model>"  CLIENT, current conventions with a model no catalog prices
//                   (GENOPS_UNPRICED_MODEL, default "genops-private-model-x")
// The three priced spans report the same usage, so they must cost the same.
//
// Trace and span ids come from a deterministic IdGenerator seeded by GENOPS_ID_SEED, and the
// timestamps from GENOPS_SPAN_TIME_MS, so running the script twice with the same values sends
// the same batch again (the receiver must charge it once).
//
// Environment:
//   GENOPS_EXPORTER        proto (default) | json | grpc
//   GENOPS_RECEIVER_URL    the receiver's OTLP/HTTP root, http://HOST:PORT (proto, json)
//   GENOPS_RECEIVER_GRPC   the receiver's OTLP/gRPC address, HOST:PORT (grpc)
//   GENOPS_PROCESSOR       batch (default: one forceFlush, the whole trace in one request) |
//                          simple (one export per span)
//   GENOPS_SERVICE_NAME    the resource's service.name (default "otel-exporter-app")
//   GENOPS_RESOURCE        more resource attributes, a JSON object
//                          (default {"genops.project":"receiver-it",
//                                    "deployment.environment.name":"staging"})
//   GENOPS_ID_SEED         a positive integer (default 1); each seed gives other trace ids
//   GENOPS_SPAN_TIME_MS    the root span's start, epoch ms (default: now)
//   GENOPS_MODEL           the priced model (default gpt-4o)
//
// Prints ONE JSON line: {scenario, ok, exporter, processor, service_name, resource,
// exports: [{code, spans, error?}], spans: [{role, name, trace_id, span_id, parent_span_id,
// sent: [the span as each export carried it: {name, trace_id, span_id, parent_span_id, kind,
// start_time_unix_nano, end_time_unix_nano, attributes, events, status_code}]}],
// export_errors}. ok is true when every export reported SUCCESS. Exit code 0 when the line was
// printed, 2 on a usage error.
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

import { fail } from './lib.mjs';
import { collectExportErrors, readJsonObjectEnv, receiverUrl } from './receiver_lib.mjs';

const env = process.env;
const exporterKind = env.GENOPS_EXPORTER || 'proto';
const processorKind = env.GENOPS_PROCESSOR || 'batch';
const serviceName = env.GENOPS_SERVICE_NAME || 'otel-exporter-app';
const model = env.GENOPS_MODEL || 'gpt-4o';
const unpricedModel = env.GENOPS_UNPRICED_MODEL || 'genops-private-model-x';
const extraResource = readJsonObjectEnv('GENOPS_RESOURCE', {
  'genops.project': 'receiver-it',
  'deployment.environment.name': 'staging',
});
const seed = Number(env.GENOPS_ID_SEED || '1');
if (!Number.isSafeInteger(seed) || seed < 1) fail(`GENOPS_ID_SEED must be a positive integer, got "${env.GENOPS_ID_SEED}"`);
const startMs = env.GENOPS_SPAN_TIME_MS ? Number(env.GENOPS_SPAN_TIME_MS) : Date.now();
if (!Number.isSafeInteger(startMs) || startMs <= 0) fail(`GENOPS_SPAN_TIME_MS must be epoch milliseconds, got "${env.GENOPS_SPAN_TIME_MS}"`);
if (processorKind !== 'batch' && processorKind !== 'simple') fail(`GENOPS_PROCESSOR must be batch or simple, got "${processorKind}"`);

function makeExporter() {
  switch (exporterKind) {
    case 'proto':
      return new ProtoExporter({ url: `${receiverUrl()}/v1/traces`, timeoutMillis: 20000 });
    case 'json':
      return new JsonExporter({ url: `${receiverUrl()}/v1/traces`, timeoutMillis: 20000 });
    case 'grpc': {
      const address = (env.GENOPS_RECEIVER_GRPC ?? '').replace(/^https?:\/\//, '');
      if (!address) fail('GENOPS_RECEIVER_GRPC is not set (the receiver\'s OTLP/gRPC HOST:PORT)');
      // http:// selects an insecure channel.
      return new GrpcExporter({ url: `http://${address}`, timeoutMillis: 20000 });
    }
    default:
      return fail(`GENOPS_EXPORTER must be proto, json or grpc, got "${exporterKind}"`);
  }
}

const hrTimeToNanos = (t) => (BigInt(t[0]) * 1000000000n + BigInt(t[1])).toString();

// A span as the exporter got it, in OTLP terms (kind and status code numbered as in OTLP:
// the API's SpanKind is one less), so the test can compare it with what came out of GenOps.
function sentSpan(span) {
  const ctx = span.spanContext();
  return {
    name: span.name,
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: span.parentSpanContext?.spanId ?? null,
    kind: span.kind + 1,
    start_time_unix_nano: hrTimeToNanos(span.startTime),
    end_time_unix_nano: hrTimeToNanos(span.endTime),
    attributes: span.attributes,
    events: span.events.map((e) => ({ name: e.name, time_unix_nano: hrTimeToNanos(e.time),
      attributes: e.attributes ?? {} })),
    status_code: span.status.code,
  };
}

// Records each export's result, and every span it carried, while passing it on.
class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
    this.sent = [];
  }

  export(spans, done) {
    for (const span of spans) this.sent.push(sentSpan(span));
    this.inner.export(spans, (result) => {
      const kept = { code: result.code === ExportResultCode.SUCCESS ? 'SUCCESS' : 'FAILED',
        spans: spans.length };
      if (result.error) kept.error = String(result.error?.message ?? result.error);
      this.results.push(kept);
      done(result);
    });
  }

  shutdown() { return this.inner.shutdown(); }

  forceFlush() { return this.inner.forceFlush?.() ?? Promise.resolve(); }
}

// Deterministic ids: trace ids "<seed as 8 hex>" + "7e1e" + counter, span ids "<seed>" + counter,
// never all zero. The same seed and call order give the same ids.
class SeededIdGenerator {
  constructor(seedValue) {
    this.seedHex = seedValue.toString(16).padStart(8, '0');
    this.traces = 0;
    this.spans = 0;
  }

  generateTraceId() {
    this.traces += 1;
    return `${this.seedHex}00007e1e${this.traces.toString(16).padStart(16, '0')}`;
  }

  generateSpanId() {
    this.spans += 1;
    return `${this.seedHex}${this.spans.toString(16).padStart(8, '0')}`;
  }
}

const exportErrors = collectExportErrors();
const exporter = new RecordingExporter(makeExporter());
const processor = processorKind === 'simple'
  ? new SimpleSpanProcessor(exporter)
  : new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, scheduledDelayMillis: 60000 });
const resourceAttributes = { 'service.name': serviceName, ...extraResource };
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes(resourceAttributes),
  idGenerator: new SeededIdGenerator(seed),
  spanProcessors: [processor],
});
const tracer = provider.getTracer('genops-receiver-it', '1.0.0');

const spans = [];
const at = (offsetMs) => startMs + offsetMs;
function describe(role, span, parent) {
  const ctx = span.spanContext();
  spans.push({ role, name: span.name, trace_id: ctx.traceId, span_id: ctx.spanId,
    parent_span_id: parent ? parent.spanContext().spanId : null });
}

const root = tracer.startSpan('GET /orders', {
  kind: SpanKind.SERVER,
  startTime: at(0),
  attributes: {
    'http.request.method': 'GET',
    'http.route': '/orders',
    'url.path': '/orders',
    'http.response.status_code': 200,
    'app.ratio': 0.25,
    'app.cache_hit': true,
    'app.regions': ['eu-west-1', 'us-east-1'],
  },
});
root.addEvent('orders.loaded', { 'orders.count': 3 }, at(5));
const rootContext = trace.setSpan(context.active(), root);

function llmSpan(role, name, attributes, offsetMs) {
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: at(offsetMs), attributes },
    rootContext);
  describe(role, span, root);
  span.setStatus({ code: SpanStatusCode.OK });
  span.end(at(offsetMs + 40));
}

llmSpan('new', `chat ${model}`, {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': model,
  'gen_ai.response.model': model,
  'gen_ai.usage.input_tokens': 1200,
  'gen_ai.usage.output_tokens': 300,
  'gen_ai.usage.cache_read.input_tokens': 200,
  'genops.team': 'ml-platform',
  'genops.customer_id': 'globex',
}, 10);
llmSpan('old', 'openai.chat', {
  'gen_ai.system': 'openai',
  'gen_ai.request.model': model,
  'llm.request.type': 'chat',
  'gen_ai.usage.prompt_tokens': 1200,
  'gen_ai.usage.completion_tokens': 300,
  'gen_ai.usage.cache_read_input_tokens': 200,
  'llm.usage.total_tokens': 1500,
}, 60);
llmSpan('old_total', 'openai.chat', {
  'gen_ai.system': 'openai',
  'gen_ai.request.model': model,
  'llm.request.type': 'chat',
  'gen_ai.usage.prompt_tokens': 1200,
  'gen_ai.usage.cache_read_input_tokens': 200,
  'llm.usage.total_tokens': 1500,
  'traceloop.association.properties.team': 'legacy-team',
  'traceloop.association.properties.customer_id': 'initech',
}, 110);
llmSpan('unpriced', `chat ${unpricedModel}`, {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': unpricedModel,
  'gen_ai.usage.input_tokens': 100,
  'gen_ai.usage.output_tokens': 10,
}, 160);

root.setStatus({ code: SpanStatusCode.OK });
root.end(at(250));
describe('plain', root, null);

await provider.forceFlush();
await provider.shutdown();

const ok = exporter.results.length > 0 && exporter.results.every((r) => r.code === 'SUCCESS');
process.stdout.write(`${JSON.stringify({
  scenario: 'receiver_otel_exporters',
  ok,
  exporter: exporterKind,
  processor: processorKind,
  service_name: serviceName,
  resource: resourceAttributes,
  exports: exporter.results,
  spans: spans.map((d) => ({ ...d,
    sent: exporter.sent.filter((x) => x.span_id === d.span_id) })),
  export_errors: exportErrors,
})}\n`);
process.exit(0);
