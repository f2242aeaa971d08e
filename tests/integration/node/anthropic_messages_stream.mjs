// Anthropic Messages, streaming through the SDK's helper: client.messages.stream(), text
// gathered from its 'text' events, the result from finalMessage() (whose usage the SDK
// assembles from message_start and message_delta).
// Prints {scenario, ok, text, final_text, stop_reason, events, usage, attempts, responses,
// error?}.
import { anthropicClient, countingFetch, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'claude-haiku-4-5', prompt: 'Stream a harbour description.' });
const { fetch, record } = countingFetch();
const client = anthropicClient(config, fetch);

await runScenario('anthropic_messages_stream', record, async () => {
  const stream = client.messages.stream({
    model: config.model,
    max_tokens: config.maxTokens ?? 1024,
    messages: [{ role: 'user', content: config.prompt }],
  });
  let text = '';
  let events = 0;
  stream.on('text', (delta) => {
    text += delta;
  });
  stream.on('streamEvent', () => {
    events += 1;
  });
  const message = await stream.finalMessage();
  return {
    text,
    final_text: message.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    stop_reason: message.stop_reason,
    events,
    usage: message.usage ?? null,
  };
});
