const $ = (id) => document.getElementById(id);
const SAMPLE = {
  fileName: "invoice-7.txt",
  contentType: "text/plain",
  content:
    "Invoice INV-7 from Acme GmbH, 2 March 2026. Consulting, 10 hours. Total due: 1250.50 EUR.",
  shape: [
    { name: "invoiceNumber", type: "string", description: "The invoice's number" },
    { name: "vendor", type: "string" },
    { name: "total", type: "number", description: "Amount due" },
    { name: "currency", type: "string", description: "ISO 4217 code" },
  ],
};
const TERMINAL = ["COMPLETED", "FAILED"];
/** The end user tokens minted here act for; `npm run dev` seeds a finished job of theirs. */
const DEMO_USER = "demo-page";
const TRANSIENT = [429, 502, 503, 504];
const HINTS = {
  401: "The token is missing, malformed or expired: mint a new one.",
  403: "The token may not do this (scope), or this page's origin is not one of the tenant's allowedOrigins.",
  404: "No such job for this token: it belongs to someone else, or does not exist.",
  413: "The document is too large for the proxy.",
  429: "Too many requests: wait a moment.",
  503: "The proxy or Waveline is briefly unavailable.",
};
let running = null;

$("proxy-url").value = location.origin;
$("document").value = JSON.stringify(SAMPLE, null, 2);

function proxyUrl() {
  return $("proxy-url").value.trim().replace(/\/+$/, "");
}

/** A problem to show: what happened, and what to do about it. */
function problem(text) {
  const err = new Error(text);
  err.readable = true;
  return err;
}

async function call(path, init) {
  const headers = new Headers(init.headers);
  if (init.credential) headers.set("Authorization", `Bearer ${init.credential}`);
  if (init.body) headers.set("Content-Type", "application/json");
  try {
    return await fetch(proxyUrl() + path, {
      method: init.method || "GET",
      headers,
      body: init.body,
      signal: init.signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw problem(
      "Network error: no answer from " +
        proxyUrl() +
        path +
        ".\nThe browser blocked the request (CORS: is " +
        location.origin +
        " one of the tenant's allowedOrigins?) or the proxy is not reachable.\n(" +
        err.message +
        ")",
    );
  }
}

async function failure(response) {
  let message = response.statusText;
  try {
    const body = await response.json();
    if (typeof body.error === "string") message = body.error;
  } catch {}
  const id = response.headers.get("X-Request-Id");
  const hint = HINTS[response.status] ? `\n${HINTS[response.status]}` : "";
  return problem(`${response.status} ${message}${hint}${id ? `\nRequest id: ${id}` : ""}`);
}

function retryAfterMs(response) {
  const value = response.headers.get("Retry-After");
  return value && /^\d+$/.test(value) ? Number(value) * 1000 : null;
}

function backoffMs(step) {
  const ceiling = Math.min(10000, 1000 * 2 ** step);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = `status ${kind || text}`;
}
/** Section 1's own message: what minting did, or why it failed. */
function notice(text, kind) {
  $("notice").textContent = text;
  $("notice").className = kind || "";
}
function showError(err) {
  const el = $("error");
  el.textContent = err.readable ? err.message : `Unexpected error: ${err}`;
  el.hidden = false;
}
function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

/** One row per update of the job, `via` "pushed" (the live stream) or "polled" (GET). */
function addRow(via, httpStatus, jobStatus, cache, nextMs) {
  const rows = $("polls").tBodies[0];
  const row = rows.insertRow();
  for (const text of [
    rows.rows.length,
    new Date().toLocaleTimeString(),
    httpStatus,
    jobStatus,
    cache || "—",
    nextMs == null ? "—" : `${(nextMs / 1000).toFixed(1)} s`,
    via,
  ]) {
    row.insertCell().textContent = String(text);
  }
}

function begin(label) {
  if (running) running.abort();
  running = new AbortController();
  clearError();
  $("polls").tBodies[0].replaceChildren();
  $("live-note").textContent = "";
  $("result").textContent = "No result yet.";
  $("job-label").textContent = label;
  $("stop").disabled = false;
  return running.signal;
}

function end(signal) {
  if (running && running.signal === signal) {
    running = null;
    $("stop").disabled = true;
  }
}

function token() {
  const value = $("token").value.trim();
  if (!value) throw problem("Paste a browser token first (or mint one with a dev API key).");
  return value;
}

function showResult(job) {
  $("result").textContent = JSON.stringify(job.status === "COMPLETED" ? job.result : job, null, 2);
}

/**
 * Follows the job over `GET /jobs/{id}/events` until it finishes. Resolves with
 * `{ job }` (finished) or `{ unavailable }` (why the stream is of no use: poll instead).
 */
function follow(path, credential, signal) {
  return new Promise((resolve, reject) => {
    // EventSource cannot send headers: the browser token goes in the query.
    const source = new EventSource(
      `${proxyUrl()}${path}?access_token=${encodeURIComponent(credential)}`,
    );
    let pushed = 0;
    const settle = (outcome) => {
      // Closed at once: left open, EventSource would reconnect after the server ends the stream.
      source.close();
      signal.removeEventListener("abort", abandon);
      outcome();
    };
    const abandon = () => settle(() => reject(signal.reason));
    signal.addEventListener("abort", abandon, { once: true });
    setStatus("live…", "polling");
    source.addEventListener("job", (event) => {
      const job = JSON.parse(event.data);
      pushed++;
      addRow("pushed", "—", job.status, null, null);
      setStatus(job.status);
      if (TERMINAL.includes(job.status)) settle(() => resolve({ job }));
    });
    source.addEventListener("error", (event) => {
      if (typeof event.data === "string") {
        // `event: error` from the proxy: Waveline has failed for a while.
        let reason = event.data;
        try {
          reason = JSON.parse(event.data).error;
        } catch {}
        return settle(() => resolve({ unavailable: `the stream reported: ${reason}` }));
      }
      if (pushed === 0) return settle(() => resolve({ unavailable: null }));
      if (source.readyState === EventSource.CLOSED) {
        return settle(() => resolve({ unavailable: "the stream was refused on reconnecting" }));
      }
      setStatus("reconnecting…", "polling");
    });
  });
}

/** Refusals that polling would only repeat: the job is not this token's, or the token is bad. */
const FINAL = [400, 401, 403, 404];

/**
 * Why the stream failed before its first event: EventSource does not say, one GET does.
 * `{ reason, status }`, the status when the proxy refused the stream.
 */
async function streamFailure(path, credential, signal) {
  const probe = new AbortController();
  const abandon = () => probe.abort();
  signal.addEventListener("abort", abandon, { once: true });
  try {
    const response = await call(path, { credential, signal: probe.signal });
    if (response.ok) return { reason: "the stream broke off before its first update" };
    return { reason: (await failure(response)).message.split("\n")[0], status: response.status };
  } catch (err) {
    if (signal.aborted) throw err;
    return { reason: err.readable ? err.message.split("\n")[0] : String(err) };
  } finally {
    probe.abort();
    signal.removeEventListener("abort", abandon);
  }
}

async function watch(id, signal) {
  const credential = token();
  $("job-id").value = id;
  $("job-label").textContent = `job ${id}`;
  const path = `/jobs/${encodeURIComponent(id)}`;
  const followed = await follow(`${path}/events`, credential, signal);
  if (followed.job) return showResult(followed.job);
  let reason = followed.unavailable;
  let answered;
  if (reason === null) {
    const probed = await streamFailure(`${path}/events`, credential, signal);
    reason = probed.reason;
    if (FINAL.includes(probed.status)) {
      // An older proxy has no stream route, yet serves the job: ask the job itself once.
      answered = await call(path, { credential, signal });
      if (!answered.ok && FINAL.includes(answered.status)) {
        $("live-note").textContent = `Live updates are unavailable (${reason}).`;
        throw await failure(answered);
      }
    }
  }
  $("live-note").textContent =
    `Live updates are unavailable (${reason}): polling GET /jobs/{id} instead.`;
  await poll(path, credential, signal, answered);
}

/** Polls the job until it finishes; `answered`: the first poll's answer, if one was made. */
async function poll(path, credential, signal, answered) {
  let step = 0,
    failures = 0;
  for (;;) {
    setStatus("polling…", "polling");
    const response = answered ?? (await call(path, { credential, signal }));
    answered = undefined;
    const cache = response.headers.get("X-Cache");
    const wait = retryAfterMs(response);
    if (!response.ok) {
      const err = await failure(response);
      const retry = TRANSIENT.includes(response.status) && ++failures <= 5;
      const next = retry ? (wait == null ? backoffMs(step++) : wait) : null;
      addRow("polled", response.status, "—", cache, next);
      if (!retry) throw err;
      await sleep(next, signal);
      continue;
    }
    failures = 0;
    const job = await response.json();
    const terminal = TERMINAL.includes(job.status);
    const next = terminal ? null : wait == null ? backoffMs(step++) : wait;
    addRow("polled", response.status, job.status, cache, next);
    setStatus(job.status);
    if (terminal) return showResult(job);
    await sleep(next, signal);
  }
}

async function run(label, task) {
  const signal = begin(label);
  try {
    await task(signal);
  } catch (err) {
    if (signal.aborted) setStatus("stopped", "idle");
    else {
      setStatus("error", "error");
      showError(err);
    }
  } finally {
    end(signal);
  }
}

$("create").addEventListener("click", () =>
  run("POST /extract-document", async (signal) => {
    const credential = token();
    let body;
    try {
      body = JSON.stringify(JSON.parse($("document").value));
    } catch (err) {
      throw problem(`The document is not valid JSON: ${err.message}`);
    }
    setStatus("creating…", "polling");
    const response = await call("/extract-document", { method: "POST", credential, body, signal });
    if (!response.ok) throw await failure(response);
    const created = await response.json();
    await watch(created.id, signal);
  }),
);

$("watch").addEventListener("click", () =>
  run("", (signal) => {
    const id = $("job-id").value.trim();
    if (!id) throw problem("Enter a job id to watch.");
    return watch(id, signal);
  }),
);

$("stop").addEventListener("click", () => {
  if (running) running.abort();
});

$("mint").addEventListener("click", async () => {
  notice("");
  const key = $("api-key").value.trim();
  try {
    if (!key) throw problem("Enter a tenant API key to mint a token with.");
    const body = JSON.stringify({
      sub: DEMO_USER,
      scopes: ["jobs:read", "jobs:create"],
      ttlSeconds: 900,
    });
    const response = await call("/tokens", { method: "POST", credential: key, body });
    if (!response.ok) throw await failure(response);
    const minted = await response.json();
    $("token").value = minted.token;
    $("api-key").value = "";
    notice(
      `Token minted for user "${DEMO_USER}", valid until ` +
        new Date(minted.expiresAt).toLocaleTimeString() +
        ".",
    );
  } catch (err) {
    // Said where the user clicked; the Watch card keeps showing the job it was showing.
    notice(err.readable ? err.message : `Unexpected error: ${err}`, "error");
  }
});
