// The cspdet page: send an image (a file, or webcam frames) to /v1/detect and draw the boxes it
// returns. window.cspdet exposes what was drawn last, for people and for the browser test.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const state = { palette: [[255, 56, 56]], last: null, drawn: [], scale: 1, frames: 0, webcam: null };
window.cspdet = state;

function colour(classId) {
  const c = state.palette[classId % state.palette.length];
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function say(text) { $("status").textContent = text || ""; }

async function errorText(res) {
  try { return (await res.json()).error; } catch (e) { return `${res.status} ${res.statusText}`; }
}

// Draw the image and its detections (boxes in original pixels, scaled to the canvas).
function draw(source, width, height, result) {
  const scale = Math.min(1, 960 / width);
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const lw = Math.max(3, Math.round((canvas.width + canvas.height) / 2 * 0.005));
  ctx.font = `${Math.max(12, lw * 5)}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  const drawn = [];
  for (const d of result.detections) {
    const [x1, y1, x2, y2] = d.box.map((v) => v * scale);
    const col = colour(d.class_id);
    ctx.lineWidth = lw;
    ctx.strokeStyle = col;
    ctx.strokeRect(x1 + lw / 2, y1 + lw / 2, Math.max(x2 - x1 - lw, 1), Math.max(y2 - y1 - lw, 1));
    const text = `${d.track_id !== undefined ? "#" + d.track_id + " " : ""}${d.name} ${d.score.toFixed(2)}`;
    const tw = ctx.measureText(text).width + 6;
    const th = lw * 5 + 4;
    const ty = y1 - th >= 0 ? y1 : y1 + th;
    ctx.fillStyle = col;
    ctx.fillRect(x1, ty - th, tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x1 + 3, ty - 2);
    drawn.push({ box: [x1, y1, x2, y2], line: lw, colour: state.palette[d.class_id % state.palette.length] });
  }
  state.last = result;
  state.drawn = drawn;
  state.scale = scale;
  state.frames += 1;
  table(result);
}

function table(result) {
  const t = result.timings_ms;
  $("summary").textContent = `${result.detections.length} detections in a ${result.image.width}x${result.image.height}` +
    ` image; ${t.total.toFixed(1)} ms on the server (inference ${t.inference.toFixed(1)} ms in a batch of ${result.batch})`;
  const body = $("detections").tBodies[0];
  body.replaceChildren();
  for (const d of result.detections) {
    const row = body.insertRow();
    const swatch = `<span class="swatch" style="background:${colour(d.class_id)}"></span>`;
    row.innerHTML = `<td>${swatch}</td><td>${d.score.toFixed(3)}</td><td>${d.class_id}</td><td>${d.category_id}</td>` +
      `<td>${d.box.map((v) => v.toFixed(1)).join(", ")}</td>`;
    row.cells[0].append(d.name);
  }
}

async function detect(blob) {
  const conf = $("conf").value;
  const res = await fetch(`/v1/detect?conf=${conf}`, { method: "POST", body: blob,
    headers: { "Content-Type": blob.type || "application/octet-stream" } });
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

async function onFile(file) {
  stopWebcam();
  say("");
  try {
    const [result, bitmap] = await Promise.all([detect(file), createImageBitmap(file)]);
    draw(bitmap, bitmap.width, bitmap.height, result);
  } catch (e) {
    say(e.message);
  }
}

// Webcam: grab a frame, send it, draw the answer on that frame, repeat (one request in flight).
async function webcamLoop(video, grab) {
  while (state.webcam === video) {
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    const blob = await new Promise((ok) => grab.toBlob(ok, "image/jpeg", 0.85));
    try {
      const result = await detect(blob);
      if (state.webcam === video) draw(grab, grab.width, grab.height, result);
    } catch (e) {
      say(e.message);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
}

async function startWebcam() {
  const video = $("video");
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) {
    say(`webcam: ${e.message}`);
    return;
  }
  await video.play();
  const grab = document.createElement("canvas");
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  state.webcam = video;
  $("webcam").textContent = "Stop the webcam";
  say("");
  webcamLoop(video, grab);
}

function stopWebcam() {
  const video = state.webcam;
  if (!video) return;
  state.webcam = null;
  video.srcObject.getTracks().forEach((t) => t.stop());
  video.srcObject = null;
  $("webcam").textContent = "Use the webcam";
}

function showStreams(streams) {
  if (!streams.length) return;
  $("streams").hidden = false;
  for (const s of streams) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    const cap = document.createElement("figcaption");
    img.alt = s.name;
    cap.textContent = `${s.name}: ${s.status}`;
    fig.append(img, cap);
    $("stream-list").append(fig);
    const events = new EventSource(`/v1/streams/${encodeURIComponent(s.name)}/events`);
    events.onmessage = (e) => {
      const v = JSON.parse(e.data);
      const names = (v.detections || []).map((d) => d.name);
      cap.textContent = `${s.name}: ${v.status}${v.frame ? `, frame ${v.frame}, ${names.length} objects` : ""}`;
      if (v.status === "live" && img.complete) img.src = `/v1/streams/${encodeURIComponent(s.name)}/frame.jpg?f=${v.frame}`;
    };
  }
}

async function start() {
  $("file").addEventListener("change", (e) => e.target.files[0] && onFile(e.target.files[0]));
  $("webcam").addEventListener("click", () => (state.webcam ? stopWebcam() : startWebcam()));
  $("conf").addEventListener("input", (e) => { $("conf-value").textContent = e.target.value; });
  try {
    const m = (await (await fetch("/v1/models")).json()).models[0];
    state.palette = m.palette;
    $("conf").value = m.defaults.conf_thres;
    $("conf-value").textContent = m.defaults.conf_thres;
    $("model").textContent = `${m.name} on ${m.backend} (${m.device}), ${m.classes.length} classes, ` +
      `${m.img_size[0]}x${m.img_size[1]}`;
    const s = await (await fetch("/v1/streams")).json();
    showStreams(s.streams);
  } catch (e) {
    say(`cannot reach the server: ${e.message}`);
  }
  state.ready = true;
}

start();
