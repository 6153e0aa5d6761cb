/**
 * The demo page: one self-contained HTML document (inline CSS and JS, nothing fetched but the
 * proxy's API), so it works offline and from any origin. Its script and style carry the nonce of
 * the Content-Security-Policy it is served with. No key ships in it: the developer types one.
 */
export function demoPage(nonce: string): string {
  return String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Waveline proxy demo</title>
<style nonce="${nonce}">
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dee8;--bg:#f5f7fb;--accent:#2357d9;--ok:#17804a;--bad:#b42318;--warn:#a15c00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:920px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:15px;margin:0 0 12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
p{margin:0 0 12px}
.lead{color:var(--muted);margin-bottom:20px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:16px}
label{display:block;font-weight:600;font-size:13px;margin-bottom:10px}
input,textarea{display:block;width:100%;margin-top:4px;padding:7px 9px;border:1px solid var(--line);border-radius:6px;font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--ink);background:#fff}
textarea{resize:vertical}
button{padding:7px 14px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;font:600 13px system-ui,sans-serif;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}
button:disabled{opacity:.45;cursor:default}
.row{display:flex;gap:10px;align-items:flex-end;flex-wrap:wrap}
.row label{flex:1;min-width:220px;margin:0}
.hint{font-size:13px;color:var(--muted)}
details{margin-top:4px}
summary{cursor:pointer;font-size:13px;color:var(--accent);margin-bottom:8px}
.status{display:inline-block;padding:2px 10px;border-radius:999px;font:600 13px ui-monospace,monospace;background:#e8ecf4}
.status.COMPLETED{background:#dcf3e5;color:var(--ok)}
.status.FAILED,.status.error{background:#fde4e1;color:var(--bad)}
.status.RUNNING,.status.CREATED{background:#fff1d6;color:var(--warn)}
#error{border:1px solid #f3b8b1;background:#fff5f4;color:var(--bad);border-radius:8px;padding:10px 12px;margin:12px 0;white-space:pre-wrap}
#notice{color:var(--muted);font-size:13px;margin:8px 0 0}
table{width:100%;border-collapse:collapse;font:12.5px ui-monospace,monospace;margin:12px 0}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line)}
th{font:600 12px system-ui,sans-serif;color:var(--muted)}
pre{background:#0f1729;color:#dbe4ff;border-radius:8px;padding:12px 14px;overflow:auto;font:12.5px/1.5 ui-monospace,monospace;margin:0;max-height:420px}
</style>
</head>
<body>
<main>
<h1>Waveline proxy demo</h1>
<p class="lead">Create an extraction job, or watch an existing one, through the proxy with a browser token, as a front-end would.</p>

<section>
<h2>1 · Connect</h2>
<label>Proxy URL<input id="proxy-url" type="url" spellcheck="false"></label>
<label>Browser token<textarea id="token" rows="2" spellcheck="false" placeholder="eyJ… (your backend mints it with POST /tokens and its API key)"></textarea></label>
<details id="mint-box">
<summary>Local development: mint a token here with a tenant API key</summary>
<p class="hint">The key goes only to the proxy above (POST /tokens) and is not stored. In a real app the backend mints tokens and the browser never sees a key. <code>npm run dev</code> prints the demo tenant's key.</p>
<div class="row">
<label>Tenant API key<input id="api-key" type="password" autocomplete="off" placeholder="wlp_…"></label>
<button id="mint" type="button" class="secondary">Mint a 15-minute token</button>
</div>
</details>
<p id="notice" aria-live="polite"></p>
</section>

<section>
<h2>2 · Start a job</h2>
<label>Sample document (the body of POST /extract-document)<textarea id="document" rows="9" spellcheck="false"></textarea></label>
<div class="row">
<button id="create" type="button">Create job and watch it</button>
<label>…or watch a job id<input id="job-id" spellcheck="false" placeholder="00000000-0000-4000-8000-000000000001"></label>
<button id="watch" type="button" class="secondary">Watch</button>
<button id="stop" type="button" class="secondary" disabled>Stop</button>
</div>
</section>

<section>
<h2>3 · Watch</h2>
<p>Status <output id="status" class="status">idle</output> <span id="job-label" class="hint"></span></p>
<div id="error" role="alert" hidden></div>
<table id="polls"><thead><tr><th>#</th><th>time</th><th>HTTP</th><th>job status</th><th>X-Cache</th><th>next poll</th></tr></thead><tbody></tbody></table>
<pre id="result">No result yet.</pre>
</section>
</main>
<script nonce="${nonce}">
"use strict";
const $ = (id) => document.getElementById(id);
const SAMPLE = {
  fileName: "invoice-7.txt",
  contentType: "text/plain",
  content: "Invoice INV-7 from Acme GmbH, 2 March 2026. Consulting, 10 hours. Total due: 1250.50 EUR.",
  shape: [
    { name: "invoiceNumber", type: "string", description: "The invoice's number" },
    { name: "vendor", type: "string" },
    { name: "total", type: "number", description: "Amount due" },
    { name: "currency", type: "string", description: "ISO 4217 code" }
  ]
};
const TERMINAL = ["COMPLETED", "FAILED"];
const TRANSIENT = [429, 502, 503, 504];
const HINTS = {
  401: "The token is missing, malformed or expired: mint a new one.",
  403: "The token may not do this (scope), or this page's origin is not one of the tenant's allowedOrigins.",
  404: "No such job for this token: it belongs to someone else, or does not exist.",
  413: "The document is too large for the proxy.",
  429: "Too many requests: wait a moment.",
  503: "The proxy or Waveline is briefly unavailable."
};
let running = null;

$("proxy-url").value = location.origin;
$("document").value = JSON.stringify(SAMPLE, null, 2);

function proxyUrl() { return $("proxy-url").value.trim().replace(/\/+$/, ""); }

/** A problem to show: what happened, and what to do about it. */
function problem(text) { const err = new Error(text); err.readable = true; return err; }

async function call(path, init) {
  const headers = new Headers(init.headers);
  if (init.credential) headers.set("Authorization", "Bearer " + init.credential);
  if (init.body) headers.set("Content-Type", "application/json");
  try {
    return await fetch(proxyUrl() + path, { method: init.method || "GET", headers, body: init.body, signal: init.signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw problem("Network error: no answer from " + proxyUrl() + path + ".\nThe browser blocked the request (CORS: is " +
      location.origin + " one of the tenant's allowedOrigins?) or the proxy is not reachable.\n(" + err.message + ")");
  }
}

async function failure(response) {
  let message = response.statusText;
  try { const body = await response.json(); if (typeof body.error === "string") message = body.error; } catch {}
  const id = response.headers.get("X-Request-Id");
  const hint = HINTS[response.status] ? "\n" + HINTS[response.status] : "";
  return problem(response.status + " " + message + hint + (id ? "\nRequest id: " + id : ""));
}

function retryAfterMs(response) {
  const value = response.headers.get("Retry-After");
  return value && /^\d+$/.test(value) ? Number(value) * 1000 : null;
}

function backoffMs(step) {
  const ceiling = Math.min(10000, 1000 * Math.pow(2, step));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

function setStatus(text, kind) { const el = $("status"); el.textContent = text; el.className = "status " + (kind || text); }
function notice(text) { $("notice").textContent = text; }
function showError(err) { const el = $("error"); el.textContent = err.readable ? err.message : "Unexpected error: " + err; el.hidden = false; }
function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function addPoll(n, httpStatus, jobStatus, cache, nextMs) {
  const row = $("polls").tBodies[0].insertRow();
  for (const text of [n, new Date().toLocaleTimeString(), httpStatus, jobStatus, cache || "—", nextMs == null ? "—" : (nextMs / 1000).toFixed(1) + " s"]) {
    row.insertCell().textContent = String(text);
  }
}

function begin(label) {
  if (running) running.abort();
  running = new AbortController();
  clearError();
  $("polls").tBodies[0].replaceChildren();
  $("result").textContent = "No result yet.";
  $("job-label").textContent = label;
  $("stop").disabled = false;
  return running.signal;
}

function end(signal) { if (running && running.signal === signal) { running = null; $("stop").disabled = true; } }

function token() {
  const value = $("token").value.trim();
  if (!value) throw problem("Paste a browser token first (or mint one with a dev API key).");
  return value;
}

async function watch(id, signal) {
  const credential = token();
  $("job-id").value = id;
  $("job-label").textContent = "job " + id;
  let step = 0, failures = 0;
  for (let n = 1; ; n++) {
    setStatus("polling…", "polling");
    const response = await call("/jobs/" + encodeURIComponent(id), { credential, signal });
    const cache = response.headers.get("X-Cache");
    const wait = retryAfterMs(response);
    if (!response.ok) {
      const err = await failure(response);
      const retry = TRANSIENT.includes(response.status) && ++failures <= 5;
      const next = retry ? (wait == null ? backoffMs(step++) : wait) : null;
      addPoll(n, response.status, "—", cache, next);
      if (!retry) throw err;
      await sleep(next, signal);
      continue;
    }
    failures = 0;
    const job = await response.json();
    const terminal = TERMINAL.includes(job.status);
    const next = terminal ? null : wait == null ? backoffMs(step++) : wait;
    addPoll(n, response.status, job.status, cache, next);
    setStatus(job.status);
    if (terminal) {
      $("result").textContent = JSON.stringify(job.status === "COMPLETED" ? job.result : job, null, 2);
      return;
    }
    await sleep(next, signal);
  }
}

async function run(label, task) {
  const signal = begin(label);
  try {
    await task(signal);
  } catch (err) {
    if (signal.aborted) setStatus("stopped", "idle");
    else { setStatus("error", "error"); showError(err); }
  } finally {
    end(signal);
  }
}

$("create").addEventListener("click", () => run("POST /extract-document", async (signal) => {
  const credential = token();
  let body;
  try { body = JSON.stringify(JSON.parse($("document").value)); }
  catch (err) { throw problem("The document is not valid JSON: " + err.message); }
  setStatus("creating…", "polling");
  const response = await call("/extract-document", { method: "POST", credential, body, signal });
  if (!response.ok) throw await failure(response);
  const created = await response.json();
  await watch(created.id, signal);
}));

$("watch").addEventListener("click", () => run("", (signal) => {
  const id = $("job-id").value.trim();
  if (!id) throw problem("Enter a job id to watch.");
  return watch(id, signal);
}));

$("stop").addEventListener("click", () => { if (running) running.abort(); });

$("mint").addEventListener("click", async () => {
  clearError();
  const key = $("api-key").value.trim();
  try {
    if (!key) throw problem("Enter a tenant API key to mint a token with.");
    const body = JSON.stringify({ sub: "demo-page", scopes: ["jobs:read", "jobs:create"], ttlSeconds: 900 });
    const response = await call("/tokens", { method: "POST", credential: key, body });
    if (!response.ok) throw await failure(response);
    const minted = await response.json();
    $("token").value = minted.token;
    $("api-key").value = "";
    notice("Token minted for user \"demo-page\", valid until " + new Date(minted.expiresAt).toLocaleTimeString() + ".");
  } catch (err) {
    setStatus("error", "error");
    showError(err);
  }
});
</script>
</body>
</html>
`;
}
