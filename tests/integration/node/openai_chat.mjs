// OpenAI chat completion, non-streaming: client.chat.completions.create().
// Prints {scenario, ok, text, finish_reason, model, usage, attempts, responses, error?}.
import { countingFetch, openaiClient, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'gpt-4o-mini', prompt: 'Name three colours of the sea.' });
const { fetch, record } = countingFetch();
const client = openaiClient(config, fetch);

await runScenario('openai_chat', record, async () => {
  const params = { model: config.model, messages: [{ role: 'user', content: config.prompt }] };
  if (config.maxTokens !== undefined) params.max_tokens = config.maxTokens;
  const completion = await client.chat.completions.create(params);
  return {
    text: completion.choices[0]?.message?.content ?? null,
    finish_reason: completion.choices[0]?.finish_reason ?? null,
    model: completion.model,
    usage: completion.usage ?? null,
  };
});
