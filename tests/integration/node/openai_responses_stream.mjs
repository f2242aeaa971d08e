// OpenAI Responses API, streaming: client.responses.create({stream: true}); text from the
// response.output_text.delta events, usage from response.completed (or response.incomplete).
// Prints {scenario, ok, text, final_text, status, events, event_types, usage, attempts,
// responses, error?}.
import { countingFetch, openaiClient, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'gpt-4o-mini', prompt: 'Stream a lighthouse description.' });
const { fetch, record } = countingFetch();
const client = openaiClient(config, fetch);

await runScenario('openai_responses_stream', record, async () => {
  const params = { model: config.model, input: config.prompt, stream: true };
  if (config.maxTokens !== undefined) params.max_output_tokens = config.maxTokens;
  const stream = await client.responses.create(params);
  let text = '';
  let final = null;
  let events = 0;
  const eventTypes = {};
  for await (const event of stream) {
    events += 1;
    eventTypes[event.type] = (eventTypes[event.type] ?? 0) + 1;
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed' || event.type === 'response.incomplete') {
      final = event.response;
    }
  }
  return {
    text,
    // The event's response object is plain JSON (the SDK adds output_text only on
    // non-streaming results), so gather its output_text parts.
    final_text: (final?.output ?? [])
      .flatMap((item) => item.content ?? [])
      .filter((part) => part.type === 'output_text')
      .map((part) => part.text)
      .join(''),
    status: final?.status ?? null,
    events,
    event_types: eventTypes,
    usage: final?.usage ?? null,
  };
});
