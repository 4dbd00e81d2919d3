// The official openai npm package against the gateway: speech (binary and SSE), transcription
// with word timestamps, audio chat unary, over two turns, and streamed.
import { createReadStream } from 'node:fs';
import { toFile } from 'openai';
import { Stream } from 'openai/streaming';
import { client, report, settings } from './outcome.mjs';
const base64 = (bytes) => Buffer.from(bytes).toString('base64');

async function speechBinary() {
  const response = await client.audio.speech.create({
    model: 'gpt-4o-mini-tts',
    voice: 'alloy',
    input: settings.sentence,
    response_format: 'mp3',
  });
  return {
    content_type: response.headers.get('content-type'),
    audio: base64(await response.arrayBuffer()),
  };
}

async function speechEvents() {
  const response = await client.audio.speech.create({
    model: 'gpt-4o-mini-tts',
    voice: 'alloy',
    input: settings.sentence,
    response_format: 'pcm',
    stream_format: 'sse',
  });
  // The SDK's own server-sent-events reader.
  const events = [];
  for await (const event of Stream.fromSSEResponse(response, new AbortController(), client)) {
    events.push(event);
  }
  return { content_type: response.headers.get('content-type'), events };
}

async function transcription() {
  return client.audio.transcriptions.create({
    model: 'whisper-1',
    file: await toFile(createReadStream(settings.wav_path), 'sentence.wav', { type: 'audio/wav' }),
    response_format: 'verbose_json',
    timestamp_granularities: ['word'],
  });
}

async function transcriptionStreamed() {
  const stream = await client.audio.transcriptions.create({
    model: 'gpt-4o-mini-transcribe',
    file: await toFile(createReadStream(settings.wav_path), 'sentence.wav', { type: 'audio/wav' }),
    stream: true,
  });
  const events = [];
  for await (const event of stream) {
    events.push(event);
  }
  return { events };
}

// A mistake of the client's: the SDK's own error class, status and error body.
async function unknownModel() {
  return client.audio.speech.create({ model: 'no-such-model', voice: 'alloy', input: 'Hello.' });
}

const audioChat = (format) => ({
  model: 'gpt-audio',
  modalities: ['text', 'audio'],
  audio: { voice: 'alloy', format },
  messages: [{ role: 'user', content: settings.sentence }],
});

let firstTurn = null;

async function chat() {
  firstTurn = await client.chat.completions.create(audioChat('wav'));
  return firstTurn;
}

// The next turn refers to the first answer's audio by the id the client was given.
async function chatSecondTurn() {
  const { messages, ...options } = audioChat('wav');
  return client.chat.completions.create({
    ...options,
    messages: [
      ...messages,
      { role: 'assistant', audio: { id: firstTurn.choices[0].message.audio.id } },
      { role: 'user', content: 'Say it once more.' },
    ],
  });
}

async function chatStreamed() {
  const stream = await client.chat.completions.create({
    ...audioChat('pcm16'),
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  return { chunks };
}

await report({
  speech_binary: speechBinary,
  speech_events: speechEvents,
  transcription,
  transcription_streamed: transcriptionStreamed,
  unknown_model: unknownModel,
  chat,
  chat_second_turn: chatSecondTurn,
  chat_streamed: chatStreamed,
});
