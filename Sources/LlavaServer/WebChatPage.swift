// The web chat served at `/`: one self-contained page (no external scripts, styles or fonts). Type a message,
// attach an image, watch the answer stream in; the whole conversation (images included) is resent each turn, as the
// OpenAI API expects, and the server's slot cache makes that cheap. `#selftest` drives the page by itself for the
// browser test: it draws an image, attaches it, sends a message and marks the page when the answer has arrived.
import Foundation

enum WebChatPage {
    static func html(modelName: String) -> String {
        let safeName = modelName.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return page.replacingOccurrences(of: "{{MODEL}}", with: safeName)
    }

    static let page = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>swift-llava · {{MODEL}}</title>
<style>
  :root { --bg: #f6f7f9; --fg: #1d2330; --muted: #6b7280; --me: #dbeafe; --bot: #ffffff; --line: #e5e7eb; --accent: #2563eb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg);
         display: flex; flex-direction: column; height: 100vh; }
  header { padding: 10px 16px; border-bottom: 1px solid var(--line); background: #fff; display: flex; gap: 12px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header span { color: var(--muted); font-size: 13px; }
  #log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px; }
  .msg { max-width: 46rem; padding: 10px 14px; border-radius: 12px; white-space: pre-wrap; word-wrap: break-word; border: 1px solid var(--line); }
  .user { align-self: flex-end; background: var(--me); }
  .assistant { align-self: flex-start; background: var(--bot); }
  .msg img { display: block; max-width: 240px; max-height: 240px; border-radius: 8px; margin-bottom: 6px; }
  .error { align-self: center; color: #b91c1c; background: #fee2e2; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); background: #fff; align-items: flex-end; }
  textarea { flex: 1; resize: none; min-height: 44px; max-height: 160px; padding: 10px; border: 1px solid var(--line); border-radius: 10px; font: inherit; }
  button, label.attach { padding: 10px 14px; border-radius: 10px; border: 1px solid var(--line); background: #fff; cursor: pointer; font: inherit; }
  button[type=submit] { background: var(--accent); color: #fff; border-color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  #preview { font-size: 12px; color: var(--muted); }
  input[type=file] { display: none; }
</style>
</head>
<body>
<header><h1>swift-llava</h1><span>{{MODEL}}</span><span id="state"></span></header>
<main id="log" aria-live="polite"></main>
<form id="form">
  <label class="attach" title="Attach an image">Image<input id="file" type="file" accept="image/png,image/jpeg"></label>
  <div style="flex:1;display:flex;flex-direction:column;gap:4px">
    <span id="preview"></span>
    <textarea id="input" placeholder="Ask about an image…" rows="1"></textarea>
  </div>
  <button id="send" type="submit">Send</button>
  <button id="reset" type="button" title="Start a new conversation">New</button>
</form>
<script>
"use strict";
const model = "{{MODEL}}";
const log = document.getElementById("log"), input = document.getElementById("input"), file = document.getElementById("file");
const preview = document.getElementById("preview"), send = document.getElementById("send"), state = document.getElementById("state");
let history = [];          // OpenAI messages, images as data: URIs
let pendingImage = null;   // data: URI of the image for the next message
let busy = false;

function bubble(role, text, image) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  if (image) { const img = document.createElement("img"); img.src = image; img.alt = "attached image"; div.appendChild(img); }
  const span = document.createElement("span");
  span.textContent = text;
  div.appendChild(span);
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return span;
}

file.addEventListener("change", () => {
  const f = file.files[0];
  if (!f) return;
  const reader = new FileReader();
  reader.onload = () => { pendingImage = reader.result; preview.textContent = "Attached: " + f.name; };
  reader.readAsDataURL(f);
});

document.getElementById("reset").addEventListener("click", () => { history = []; log.textContent = ""; });
input.addEventListener("keydown", e => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } });
document.getElementById("form").addEventListener("submit", e => { e.preventDefault(); submit(); });

async function submit() {
  const text = input.value.trim();
  if (!text || busy) return;
  busy = true; send.disabled = true; state.textContent = "thinking…";
  const content = [{ type: "text", text }];
  if (pendingImage) content.unshift({ type: "image_url", image_url: { url: pendingImage } });
  bubble("user", text, pendingImage);
  history.push({ role: "user", content });
  input.value = ""; pendingImage = null; preview.textContent = ""; file.value = "";
  const out = bubble("assistant", "");
  let answer = "";
  try {
    const headers = { "Content-Type": "application/json" };
    const key = localStorage.getItem("llava-api-key");
    if (key) headers["Authorization"] = "Bearer " + key;
    const params = new URLSearchParams(location.search);
    const body = { model, messages: history, stream: true };
    if (params.has("temperature")) body.temperature = Number(params.get("temperature"));
    if (params.has("max_tokens")) body.max_tokens = Number(params.get("max_tokens"));
    const res = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
    if (res.status === 401) {
      const k = prompt("This server needs an API key:");
      if (k) localStorage.setItem("llava-api-key", k);
      throw new Error("an API key is needed; send again");
    }
    if (!res.ok) { const err = await res.json().catch(() => ({})); throw new Error((err.error && err.error.message) || res.statusText); }
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) { answer += delta.content; out.textContent = answer; log.scrollTop = log.scrollHeight; }
      }
    }
    history.push({ role: "assistant", content: answer });
  } catch (e) {
    history.pop();
    out.parentNode.remove();
    bubble("error", "Error: " + e.message);
  } finally {
    busy = false; send.disabled = false; state.textContent = "";
    document.body.dataset.turns = String(history.length / 2);
    input.focus();
  }
}

// The browser test: draw a picture, attach it, ask, ask again; the page reports through data attributes.
if (location.hash.startsWith("#selftest")) {
  (async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 48;
    const g = canvas.getContext("2d");
    g.fillStyle = "#3060c0"; g.fillRect(0, 0, 64, 48); g.fillStyle = "#f0c020"; g.fillRect(16, 12, 32, 24);
    pendingImage = canvas.toDataURL("image/png");
    input.value = "What is in this picture?";
    await submit();
    input.value = "Say it again.";
    await submit();
    document.body.dataset.selftest = "done";
  })();
}
</script>
</body>
</html>
"""#
}
