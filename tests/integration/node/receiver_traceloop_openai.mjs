// Traceloop's Node SDK (@traceloop/node-server-sdk, OpenLLMetry JS) instrumenting the official
// OpenAI SDK, exporting its spans to the GenOps OTLP receiver
// (tests/integration/receiver_clients_test.cc runs it).
//
// What a real application does: initialize() Traceloop with its base URL (the receiver's root,
// http://HOST:PORT, from TRACELOOP_BASE_URL as `genops serve` suggests, or the baseUrl option;
// Traceloop posts OTLP/protobuf to <base URL>/v1/traces), then call OpenAI
// inside withAssociationProperties() so its spans carry
// traceloop.association.properties.<key> (the receiver's attribution). The OpenAI client's
// baseURL points at GENOPS_BASE_URL (`genops mock-upstream`), so the usage is deterministic.
//
// Calls made, each under the association properties GENOPS_ASSOCIATION plus its own `feature`
// (so the test can tell the spans apart):
//   chat         chat.completions.create() (feature "traceloop-chat")
//   chat_stream  chat.completions.create({stream: true, stream_options: {include_usage: true}})
//                (feature "traceloop-chat-stream")
// GENOPS_CALLS picks them (comma separated; default "chat,chat_stream").
//
// Environment (besides lib.mjs's GENOPS_BASE_URL, GENOPS_MODEL, GENOPS_HEADERS, ...):
//   GENOPS_RECEIVER_URL   passed as Traceloop's baseUrl option, the receiver root; when unset,
//                         Traceloop reads TRACELOOP_BASE_URL itself (one of them is required)
//   GENOPS_APP_NAME       Traceloop's appName = the resource's service.name
//                         (default "traceloop-openai-app")
//   GENOPS_ASSOCIATION    association properties as a JSON object of strings
//                         (default {"team":"search","customer_id":"acme"})
//   GENOPS_CALLS          see above
// Traceloop's own variables apply too (TRACELOOP_ENRICH_TOKENS, ...); prompt sync with
// Traceloop's cloud is off (traceloopSyncEnabled: false) and nothing leaves loopback.
//
// Prints ONE JSON line: {scenario, ok, app_name, base_url, association, calls: [{call, feature,
// ok, text, usage, request, attempts, error?}], export_errors}. export_errors lists what the
// OTLP exporter reported through the OpenTelemetry diag logger (a refused or failed export), so
// the test can tell "the receiver never got it" from "the receiver dropped it". Exit code 0 when
// the line was printed, 2 on a usage error.
import * as traceloop from '@traceloop/node-server-sdk';
import OpenAI from 'openai';

import { countingFetch, describeError, fail, openaiClient, readConfig } from './lib.mjs';
import { collectExportErrors, readJsonObjectEnv, receiverUrl } from './receiver_lib.mjs';

const config = readConfig({ model: 'gpt-4o-mini', prompt: 'Name three colours of the sea.' });
if (!process.env.GENOPS_RECEIVER_URL && !process.env.TRACELOOP_BASE_URL) {
  fail('set TRACELOOP_BASE_URL or GENOPS_RECEIVER_URL to the receiver root, e.g. http://127.0.0.1:4318');
}
const baseUrl = process.env.GENOPS_RECEIVER_URL ? receiverUrl() : undefined;
const appName = process.env.GENOPS_APP_NAME || 'traceloop-openai-app';
const association = readJsonObjectEnv('GENOPS_ASSOCIATION', { team: 'search', customer_id: 'acme' });
const calls = (process.env.GENOPS_CALLS || 'chat,chat_stream').split(',').map((c) => c.trim())
  .filter((c) => c.length > 0);
for (const call of calls) {
  if (call !== 'chat' && call !== 'chat_stream') {
    fail(`GENOPS_CALLS: unknown call "${call}"; expected chat and/or chat_stream`);
  }
}

traceloop.initialize({
  appName,
  ...(baseUrl !== undefined ? { baseUrl } : {}),
  apiKey: 'genops-receiver-test',  // sent as a bearer token; the receiver ignores it
  disableBatch: true,               // one export per span (SimpleSpanProcessor)
  traceloopSyncEnabled: false,      // no prompt registry polling of Traceloop's cloud
  silenceInitializationMessage: true,  // stdout is the one JSON line
  // ESM: the require hooks never see `import OpenAI`, so hand the class over (Traceloop's
  // documented way for bundlers and ESM).
  instrumentModules: { openAI: OpenAI },
});
const exportErrors = collectExportErrors();

async function chat(client) {
  const completion = await client.chat.completions.create({
    model: config.model,
    messages: [{ role: 'user', content: config.prompt }],
  });
  return {
    text: completion.choices[0]?.message?.content ?? null,
    model: completion.model,
    usage: completion.usage ?? null,
  };
}

async function chatStream(client) {
  const stream = await client.chat.completions.create({
    model: config.model,
    messages: [{ role: 'user', content: config.prompt }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let model = null;
  for await (const chunk of stream) {
    model = chunk.model ?? model;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) text += choice.delta?.content ?? '';
  }
  return { text, model, usage };
}

const out = { scenario: 'receiver_traceloop_openai', ok: true, app_name: appName,
  base_url: baseUrl ?? process.env.TRACELOOP_BASE_URL, association, calls: [] };
for (const call of calls) {
  const feature = call === 'chat' ? 'traceloop-chat' : 'traceloop-chat-stream';
  const { fetch, record } = countingFetch();
  const client = openaiClient(config, fetch);
  const result = { call, feature, ok: false };
  try {
    Object.assign(result, await traceloop.withAssociationProperties(
      { ...association, feature }, () => (call === 'chat' ? chat(client) : chatStream(client))));
    result.ok = true;
  } catch (e) {
    result.error = describeError(e);
    out.ok = false;
  }
  result.request = record.request;
  result.attempts = record.attempts;
  out.calls.push(result);
}

// The spans were handed to the exporter as they ended; wait for every export to finish.
await traceloop.forceFlush();
out.export_errors = exportErrors;
if (exportErrors.length > 0) out.ok = false;
process.stdout.write(`${JSON.stringify(out)}\n`);
// Traceloop's NodeSDK keeps no timers that matter; exit without waiting for idle sockets.
process.exit(0);
