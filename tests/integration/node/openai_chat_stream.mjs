// OpenAI chat completion, streaming: client.chat.completions.create({stream: true}).
// GENOPS_INCLUDE_USAGE=true asks for stream_options.include_usage (the client then expects
// exactly one usage chunk, with empty choices, before [DONE]); anything else sends no
// stream_options, and the client must then see no usage chunk at all.
// Prints {scenario, ok, text, finish_reason, chunks, usage_chunks, empty_choice_chunks,
// usage_key_chunks, usage, attempts, responses, error?}.
import { countingFetch, openaiClient, readConfig, runScenario } from './lib.mjs';

const config = readConfig({ model: 'gpt-4o-mini', prompt: 'Stream me a short sentence.' });
const includeUsage = process.env.GENOPS_INCLUDE_USAGE === 'true';
const { fetch, record } = countingFetch();
const client = openaiClient(config, fetch);

await runScenario(includeUsage ? 'openai_chat_stream_usage' : 'openai_chat_stream', record,
  async () => {
    const params = {
      model: config.model,
      messages: [{ role: 'user', content: config.prompt }],
      stream: true,
    };
    if (includeUsage) params.stream_options = { include_usage: true };
    if (config.maxTokens !== undefined) params.max_tokens = config.maxTokens;
    const stream = await client.chat.completions.create(params);
    let text = '';
    let finishReason = null;
    let usage = null;
    let chunks = 0;
    let usageChunks = 0;
    let emptyChoiceChunks = 0;
    let usageKeyChunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      if ('usage' in chunk) usageKeyChunks += 1;
      if (chunk.usage) {
        usageChunks += 1;
        usage = chunk.usage;
      }
      if (!chunk.choices || chunk.choices.length === 0) emptyChoiceChunks += 1;
      for (const choice of chunk.choices ?? []) {
        text += choice.delta?.content ?? '';
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
    }
    return {
      text,
      finish_reason: finishReason,
      chunks,
      usage_chunks: usageChunks,
      empty_choice_chunks: emptyChoiceChunks,
      usage_key_chunks: usageKeyChunks,
      usage,
    };
  });
