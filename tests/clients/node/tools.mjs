// The official openai npm package on a chat completion that the upstream answers with a tool
// call and logprobs, whole and streamed (the stream assembled by the SDK's own
// chat.completions.stream helper).
import { client, report } from './outcome.mjs';

const request = {
  model: 'gpt-audio',
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'The weather in a city.',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, unit: { type: 'string' } },
          required: ['city'],
        },
      },
    },
  ],
  tool_choice: 'auto',
  logprobs: true,
};

async function unary() {
  return client.chat.completions.create(request);
}

async function streamed() {
  const stream = client.chat.completions.stream({
    ...request,
    stream_options: { include_usage: true },
  });
  return stream.finalChatCompletion();
}

await report({ unary, streamed });
