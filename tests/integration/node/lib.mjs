// Shared plumbing of the npm client scenarios (tests/integration/npm_clients_test.cc runs them).
//
// Each scenario script drives one official SDK call against GENOPS_BASE_URL and prints ONE
// JSON line on stdout saying what the SDK saw: the answer text, the usage the SDK parsed,
// the error the SDK raised (status, message, type, class), and how many HTTP attempts the
// SDK made. Attempts are counted by a `fetch` wrapper handed to the client, so "the SDK did
// not retry a refusal" is measured rather than assumed; the wrapper also keeps each
// response's status and x-genops-* / x-should-retry headers.
//
// Environment (all optional except GENOPS_BASE_URL):
//   GENOPS_BASE_URL      server root, e.g. http://127.0.0.1:8080 (no /v1: the OpenAI scripts
//                        add it, the Anthropic SDK adds its own)
//   GENOPS_API_KEY       the key presented (Authorization: Bearer for OpenAI, x-api-key for
//                        Anthropic); default "sk-genops-test"
//   GENOPS_HEADERS       extra request headers as a JSON object, e.g.
//                        {"x-genops-team":"search","x-mock-output-tokens":"20"}
//   GENOPS_MODEL         the model (each script has a priced default)
//   GENOPS_PROMPT        the user message (each script has a default)
//   GENOPS_MAX_TOKENS    max_tokens / max_output_tokens when set
//   GENOPS_TIMEOUT_MS    per-attempt timeout of the SDK (default 30000)
//   GENOPS_MAX_RETRIES   the SDK's maxRetries; unset keeps the SDK default (2), which is
//                        what the refusal checks need
// Exit code: 0 when the JSON line was printed (whatever the call's outcome), 2 on a usage
// error (missing GENOPS_BASE_URL, bad GENOPS_HEADERS).

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

export function fail(message) {
  process.stderr.write(`${process.argv[1]}: ${message}\n`);
  process.exit(2);
}

export function readConfig(defaults) {
  const env = process.env;
  const baseUrl = (env.GENOPS_BASE_URL ?? '').replace(/\/+$/, '');
  if (!baseUrl) fail('GENOPS_BASE_URL is not set (the gateway root, e.g. http://127.0.0.1:8080)');
  let headers = {};
  if (env.GENOPS_HEADERS) {
    try {
      headers = JSON.parse(env.GENOPS_HEADERS);
    } catch (e) {
      fail(`GENOPS_HEADERS is not JSON (${e.message}); expected an object like {"x-genops-team":"a"}`);
    }
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
      fail('GENOPS_HEADERS must be a JSON object of header names to string values');
    }
  }
  const maxTokens = env.GENOPS_MAX_TOKENS ? Number(env.GENOPS_MAX_TOKENS) : undefined;
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens > 0)) {
    fail(`GENOPS_MAX_TOKENS must be a positive integer, got "${env.GENOPS_MAX_TOKENS}"`);
  }
  const config = {
    baseUrl,
    apiKey: env.GENOPS_API_KEY || 'sk-genops-test',
    headers,
    model: env.GENOPS_MODEL || defaults.model,
    prompt: env.GENOPS_PROMPT || defaults.prompt || 'Say something deterministic.',
    maxTokens,
    timeoutMs: env.GENOPS_TIMEOUT_MS ? Number(env.GENOPS_TIMEOUT_MS) : 30000,
  };
  if (env.GENOPS_MAX_RETRIES !== undefined && env.GENOPS_MAX_RETRIES !== '') {
    config.maxRetries = Number(env.GENOPS_MAX_RETRIES);
  }
  return config;
}

// A fetch that counts attempts and remembers each response's status and governance headers,
// and the first attempt's method, path and JSON body (so the test can recompute the mock's
// usage from exactly what the SDK sent).
export function countingFetch() {
  const record = { attempts: 0, request: null, responses: [] };
  const wrapped = async (input, init) => {
    record.attempts += 1;
    if (record.request === null) {
      const url = new URL(typeof input === 'string' ? input : input.url ?? String(input));
      record.request = {
        method: init?.method ?? 'GET',
        path: url.pathname,
        body: typeof init?.body === 'string' ? init.body : null,
      };
    }
    let response;
    try {
      response = await globalThis.fetch(input, init);
    } catch (e) {
      record.responses.push({ status: 0, network_error: String(e?.cause?.code ?? e?.message ?? e) });
      throw e;
    }
    const kept = {};
    for (const [name, value] of response.headers.entries()) {
      if (name.startsWith('x-genops-') || name === 'x-should-retry' || name === 'retry-after') {
        kept[name] = value;
      }
    }
    record.responses.push({ status: response.status, headers: kept });
    return response;
  };
  return { fetch: wrapped, record };
}

export function openaiClient(config, fetch) {
  const options = {
    apiKey: config.apiKey,
    baseURL: `${config.baseUrl}/v1`,
    defaultHeaders: config.headers,
    timeout: config.timeoutMs,
    fetch,
  };
  if (config.maxRetries !== undefined) options.maxRetries = config.maxRetries;
  return new OpenAI(options);
}

export function anthropicClient(config, fetch) {
  const options = {
    apiKey: config.apiKey,
    baseURL: config.baseUrl,
    defaultHeaders: config.headers,
    timeout: config.timeoutMs,
    fetch,
  };
  if (config.maxRetries !== undefined) options.maxRetries = config.maxRetries;
  return new Anthropic(options);
}

// The SDK error as plain data. `sdk_api_error` says whether it is the SDK's APIError class.
export function describeError(e) {
  const isOpenAI = e instanceof OpenAI.APIError;
  const isAnthropic = e instanceof Anthropic.APIError;
  const body = e?.error;
  return {
    class: e?.constructor?.name ?? typeof e,
    sdk_api_error: isOpenAI || isAnthropic,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    // OpenAI: error.type / error.code; Anthropic: {"type":"error","error":{"type","message"}}.
    type: e?.type ?? body?.error?.type ?? body?.type ?? null,
    code: e?.code ?? null,
    api_message: e?.apiMessage ?? body?.message ?? body?.error?.message ?? null,
  };
}

// Runs `body(client-side state)` and prints the one JSON line. `body` returns the fields of a
// success; a thrown error becomes the `error` field.
export async function runScenario(name, record, body) {
  const out = { scenario: name, ok: false };
  try {
    Object.assign(out, await body());
    out.ok = true;
  } catch (e) {
    out.error = describeError(e);
  }
  out.attempts = record.attempts;
  out.request = record.request;
  out.responses = record.responses;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
