// OpenAI embeddings: client.embeddings.create(). The SDK asks for base64 and decodes it.
// Prints {scenario, ok, vectors, dimensions, all_finite, model, usage, attempts, responses,
// error?}.
import { countingFetch, openaiClient, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'text-embedding-3-small', prompt: 'Embed this sentence.' });
const { fetch, record } = countingFetch();
const client = openaiClient(config, fetch);

await runScenario('openai_embeddings', record, async () => {
  const params = { model: config.model, input: config.prompt };
  if (process.env.GENOPS_DIMENSIONS) params.dimensions = Number(process.env.GENOPS_DIMENSIONS);
  const result = await client.embeddings.create(params);
  const vectors = result.data ?? [];
  return {
    vectors: vectors.length,
    dimensions: vectors[0]?.embedding?.length ?? 0,
    all_finite: vectors.every((v) => v.embedding.every((x) => Number.isFinite(x))),
    model: result.model,
    usage: result.usage ?? null,
  };
});
