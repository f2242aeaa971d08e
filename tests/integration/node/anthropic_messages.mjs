// Anthropic Messages, non-streaming: client.messages.create().
// Prints {scenario, ok, text, stop_reason, model, usage, attempts, responses, error?}.
import { anthropicClient, countingFetch, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'claude-haiku-4-5', prompt: 'Name a quiet harbour town.' });
const { fetch, record } = countingFetch();
const client = anthropicClient(config, fetch);

await runScenario('anthropic_messages', record, async () => {
  const message = await client.messages.create({
    model: config.model,
    max_tokens: config.maxTokens ?? 1024,
    messages: [{ role: 'user', content: config.prompt }],
  });
  return {
    text: message.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    stop_reason: message.stop_reason,
    model: message.model,
    usage: message.usage ?? null,
  };
});
