// OpenAI Responses API, non-streaming: client.responses.create().
// Prints {scenario, ok, text, status, model, usage, attempts, responses, error?}.
import { countingFetch, openaiClient, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'gpt-4o-mini', prompt: 'Describe a lighthouse briefly.' });
const { fetch, record } = countingFetch();
const client = openaiClient(config, fetch);

await runScenario('openai_responses', record, async () => {
  const params = { model: config.model, input: config.prompt };
  if (config.maxTokens !== undefined) params.max_output_tokens = config.maxTokens;
  const response = await client.responses.create(params);
  return {
    text: response.output_text,
    status: response.status,
    model: response.model,
    usage: response.usage ?? null,
  };
});
