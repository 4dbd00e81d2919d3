// The voice page: mints a client secret, calls the gateway over WebRTC (POST /v1/realtime/calls),
// speaks through the microphone, plays the answer's audio track and records what it heard.
"use strict";

const section = document.getElementById("voice");
const form = document.getElementById("voice-form");
const stopButton = document.getElementById("voice-stop");
const statusLine = document.getElementById("voice-status");
const errorLine = document.getElementById("voice-error");
const transcript = document.getElementById("voice-transcript");
const output = document.getElementById("voice-output");
const download = document.getElementById("voice-recording");

let call = null;

function show(state) {
  statusLine.textContent = statusLine.dataset[state];
  statusLine.dataset.state = state;
}

function fail(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
}

async function errorOf(response) {
  try {
    return (await response.json()).error.message;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// A secret for the chosen model: minted with the pasted key, or for the signed-in key.
async function mintSecret(model) {
  const pasted = document.getElementById("voice-key");
  let response;
  if (pasted) {
    response = await fetch("/v1/realtime/client_secrets", {
      method: "POST",
      headers: { "Authorization": `Bearer ${pasted.value.trim()}`, "Content-Type": "application/json" },
      body: JSON.stringify({ session: { type: "realtime", model, instructions: section.dataset.instructions } }),
    });
  } else {
    const fields = new FormData();
    fields.append("csrf", section.dataset.csrf);
    fields.append("model", model);
    response = await fetch("/console/voice/secret", { method: "POST", body: fields });
  }
  if (!response.ok) {
    throw new Error(await errorOf(response));
  }
  return (await response.json()).value;
}

function say(who, text) {
  const line = document.createElement("li");
  line.className = who;
  const speaker = document.createElement("strong");
  speaker.textContent = transcript.dataset[who];
  line.append(speaker, " ", text);
  transcript.append(line);
}

function onEvent(event) {
  if (event.type === "conversation.item.input_audio_transcription.completed") {
    say("you", event.transcript);
  } else if (event.type === "response.output_audio_transcript.done") {
    say("assistant", event.transcript);
  } else if (event.type === "output_audio_buffer.stopped") {
    section.dataset.answersHeard = String(Number(section.dataset.answersHeard) + 1);
  } else if (event.type === "error") {
    fail(event.error.message);
  }
}

// Records the answer's track as it is heard, for the page's download link (and the tests).
function record(stream) {
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.start(250);
  return { recorder, chunks };
}

async function start(model) {
  const secret = await mintSecret(model);
  let microphone;
  try {
    microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    throw new Error(section.dataset.errorMicrophone);
  }
  const peer = new RTCPeerConnection();
  call = { peer, microphone, recording: null };
  microphone.getTracks().forEach((track) => peer.addTrack(track, microphone));
  peer.ontrack = (event) => {
    const stream = event.streams[0] || new MediaStream([event.track]);
    output.srcObject = stream;
    call.recording = record(stream);
  };
  const channel = peer.createDataChannel("oai-events");
  channel.onmessage = (message) => onEvent(JSON.parse(message.data));
  channel.onopen = () => show("live");
  channel.onclose = () => hangUp();
  await peer.setLocalDescription(await peer.createOffer());
  const answer = await fetch("/v1/realtime/calls", {
    method: "POST",
    headers: { "Authorization": `Bearer ${secret}`, "Content-Type": "application/sdp" },
    body: peer.localDescription.sdp,
  });
  if (answer.status !== 201) {
    throw new Error(`${section.dataset.errorCall} ${await errorOf(answer)}`);
  }
  await peer.setRemoteDescription({ type: "answer", sdp: await answer.text() });
}

function hangUp() {
  if (!call) {
    return;
  }
  const { peer, microphone, recording } = call;
  call = null;
  if (recording && recording.recorder.state !== "inactive") {
    recording.recorder.onstop = () => {
      download.href = URL.createObjectURL(new Blob(recording.chunks, { type: recording.recorder.mimeType }));
      download.hidden = false;
    };
    recording.recorder.stop();
  }
  microphone.getTracks().forEach((track) => track.stop());
  peer.close();
  stopButton.disabled = true;
  form.querySelector("button[type=submit]").disabled = false;
  show("ended");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorLine.hidden = true;
  form.querySelector("button[type=submit]").disabled = true;
  stopButton.disabled = false;
  show("connecting");
  try {
    await start(document.getElementById("voice-model").value);
  } catch (error) {
    fail(error.message);
    hangUp();
  }
});

stopButton.addEventListener("click", hangUp);
