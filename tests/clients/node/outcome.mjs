// Shared by the Node client scripts: the run's settings (JSON on stdin), a client of the
// gateway, and one JSON line out: {call: {ok: answer} | {error: what the SDK raised}}.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

export const settings = JSON.parse(readFileSync(0, 'utf8'));
// One attempt: a failure shows as the gateway's answer, not as the SDK's retries.
export const client = new OpenAI({
  baseURL: settings.base_url,
  apiKey: settings.api_key,
  maxRetries: 0,
});

async function outcome(call) {
  try {
    return { ok: await call() };
  } catch (error) {
    return {
      error: {
        type: error?.constructor?.name ?? typeof error,
        message: String(error?.message ?? error).slice(0, 4000),
        status: error?.status ?? null,
        body: error?.error ?? null,
      },
    };
  }
}

// Calls run one after another, in order: a later call may use an earlier one's answer.
export async function report(calls) {
  const results = {};
  for (const [name, call] of Object.entries(calls)) {
    results[name] = await outcome(call);
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}
