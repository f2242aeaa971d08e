// Shared plumbing of the OTLP receiver scenarios (receiver_*.mjs; run by
// tests/integration/receiver_clients_test.cc). Kept apart from lib.mjs so the gateway
// scenarios never load OpenTelemetry.
//
// Environment read here:
//   GENOPS_RECEIVER_URL   the receiver's root, e.g. http://127.0.0.1:4318 (no /v1/traces: the
//                         clients add it, as they do for a collector's root)
import { diag, DiagLogLevel } from '@opentelemetry/api';

import { fail } from './lib.mjs';

// The receiver root from GENOPS_RECEIVER_URL, without a trailing slash or /v1/traces.
export function receiverUrl() {
  const raw = (process.env.GENOPS_RECEIVER_URL ?? '').replace(/\/+$/, '');
  if (!raw) fail('GENOPS_RECEIVER_URL is not set (the OTLP receiver root, e.g. http://127.0.0.1:4318)');
  return raw.replace(/\/v1\/traces$/, '');
}

// The JSON object in environment variable `name`, or `fallback` when it is unset or empty.
export function readJsonObjectEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail(`${name} is not JSON (${e.message}); expected an object like {"team":"search"}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${name} must be a JSON object`);
  }
  return value;
}

// Installs an OpenTelemetry diag logger that keeps every error and warning (a failed export is
// reported there by the span processors' global error handler) and echoes them to stderr.
// Returns the live array of messages.
export function collectExportErrors() {
  const errors = [];
  const keep = (level) => (message, ...args) => {
    const text = [message, ...args.map((a) => (a instanceof Error ? a.message : String(a)))]
      .join(' ');
    errors.push(`${level}: ${text}`);
    process.stderr.write(`otel ${level}: ${text}\n`);
  };
  const ignore = () => {};
  diag.setLogger({
    error: keep('error'),
    warn: keep('warn'),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return errors;
}
