// openai-node's realtime WebSocket client holds one turn over wss: (half a second of audio
// committed, answered with audio). OpenAIRealtimeWebSocket runs on the platform's WebSocket
// (Node's own, with --experimental-websocket on Node 20) and sends its key as a subprotocol.
import { OpenAIRealtimeWebSocket } from 'openai/realtime/websocket';
import { client, report, settings } from './outcome.mjs';

const TURN_MS = 60000;

async function turn() {
  const realtime = new OpenAIRealtimeWebSocket({ model: settings.model }, client);
  const kinds = [];
  let audioBytes = 0;
  let timer;
  try {
    const done = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no response.done in time')), TURN_MS);
      realtime.on('event', (event) => {
        kinds.push(event.type);
        if (event.type === 'response.output_audio.delta') {
          audioBytes += Buffer.from(event.delta, 'base64').length;
        }
        if (event.type === 'response.done') resolve(event);
      });
      realtime.on('error', (error) => reject(new Error(String(error?.message ?? error))));
      realtime.socket.addEventListener('open', () => {
        const manual = { type: 'realtime', audio: { input: { turn_detection: null } } };
        realtime.send({ type: 'session.update', session: manual });
        const audio = Buffer.alloc(24000).toString('base64');
        realtime.send({ type: 'input_audio_buffer.append', audio });
        realtime.send({ type: 'input_audio_buffer.commit' });
        realtime.send({ type: 'response.create' });
      });
    });
    return { url: realtime.url.toString(), kinds, audio_bytes: audioBytes, status: done.response.status };
  } finally {
    clearTimeout(timer);
    realtime.close();
  }
}

await report({ turn });
