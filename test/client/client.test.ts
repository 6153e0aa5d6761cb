import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient, type Job, WavelineProxyError } from "../../client/index";

/**
 * The client against a scripted `fetch` and fake timers: when it polls, how it backs off, how it
 * stops. `client.stack.test.ts` runs it against a real `wrangler dev`.
 */
const BASE = "https://proxy.example/api/v1";

function job(status: Job["status"], result: unknown = null): Job {
  return {
    id: "job-1",
    createdAt: "2026-01-01T00:00:00.000Z",
    status,
    type: "extract-document",
    pages: 1,
    fileName: "a.txt",
    result,
    urls: { get: `${BASE}/jobs/job-1` },
  };
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, {
    status,
    headers: { "Content-Type": "application/json", "X-Request-Id": `req-${status}`, ...headers },
  });
}

type Call = { url: string; init: RequestInit; at: number };

/**
 * A fetch that answers from a script and records when (on the fake clock) it was called. The
 * events route answers from its own script, and 404 when that is used up, as a proxy without it.
 */
function scriptedFetch(script: Array<Response | Error>, streams: Array<Response | Error> = []) {
  const calls: Call[] = [];
  const streamCalls: Call[] = [];
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    const isStream = url.endsWith("/events");
    (isStream ? streamCalls : calls).push({ url, init, at: Date.now() });
    const next = isStream
      ? (streams.shift() ?? answer(404, { error: "not found" }))
      : script.shift();
    if (!next) throw new Error("script exhausted");
    if (next instanceof Error) throw next;
    return next;
  });
  const gaps = () => calls.slice(1).map((call, index) => call.at - (calls[index]?.at ?? 0));
  return { fetch, calls, streamCalls, gaps };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z") });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("creating a job", () => {
  const document = { fileName: "a.txt", contentType: "text/plain", content: "hello" };

  it("sends a fresh Idempotency-Key with each creation and the same one on its retries", async () => {
    const { fetch, calls } = scriptedFetch([
      new TypeError("fetch failed"),
      answer(409, { error: "in progress" }, { "Retry-After": "1" }),
      answer(503, { error: "busy" }, { "Retry-After": "2" }),
      answer(201, { ...job("CREATED"), id: "job-7" }),
      answer(201, { ...job("CREATED"), id: "job-8" }),
    ]);
    const client = createClient({ baseUrl: BASE, token: "tok", fetch });

    const first = client.createExtraction(document);
    await vi.runAllTimersAsync();
    const second = await client.guessShape(document);

    expect((await first).id).toBe("job-7");
    expect(second.id).toBe("job-8");
    const keys = calls.map((call) => new Headers(call.init.headers).get("Idempotency-Key"));
    expect(new Set(keys.slice(0, 4)).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[4]).not.toBe(keys[0]);
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    expect((calls[3]?.at ?? 0) - (calls[2]?.at ?? 0)).toBeGreaterThanOrEqual(2000);
  });

  it("sends the caller's own key", async () => {
    const { fetch, calls } = scriptedFetch([answer(201, job("CREATED"))]);

    await createClient({ baseUrl: BASE, fetch }).createExtraction(document, {
      idempotencyKey: "order-42",
    });

    expect(new Headers(calls[0]?.init.headers).get("Idempotency-Key")).toBe("order-42");
  });

  it.each([
    ["a replayed 504 (the first request's own outcome)", 504, { "Idempotent-Replayed": "true" }],
    ["a 502", 502, {}],
    ["a 422", 422, {}],
  ])("does not retry after %s", async (_, status, headers) => {
    const { fetch, calls } = scriptedFetch([
      answer(status, { error: "no", jobId: "job-x" }, headers),
    ]);

    const error = await createClient({ baseUrl: BASE, fetch })
      .createExtraction(document)
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({ status, jobId: "job-x" });
    expect(calls).toHaveLength(1);
  });

  it("gives up after maxRetries", async () => {
    const busy = () => answer(503, { error: "busy" }, { "Retry-After": "1" });
    const { fetch, calls } = scriptedFetch([busy(), busy(), busy()]);

    const created = createClient({ baseUrl: BASE, fetch })
      .createExtraction(document, { maxRetries: 2 })
      .catch((err: unknown) => err);
    await vi.runAllTimersAsync();

    expect(await created).toMatchObject({ status: 503 });
    expect(calls).toHaveLength(3);
  });
});

describe("requests", () => {
  it("sends the token, JSON and the base URL's path, and returns typed bodies", async () => {
    const { fetch, calls } = scriptedFetch([
      answer(201, { ...job("CREATED"), id: "job-9" }),
      answer(200, { items: [], offset: 20, count: 10, total: 20 }),
    ]);
    const client = createClient({ baseUrl: `${BASE}/`, token: "tok", fetch });

    const created = await client.createExtraction({
      fileName: "a.txt",
      contentType: "text/plain",
      content: "hello",
      shape: [{ name: "total", type: "number" }],
    });
    const page = await client.listJobs({ count: 10, offset: 20 });

    expect(created.id).toBe("job-9");
    expect(page.total).toBe(20);
    expect(calls[0]?.url).toBe(`${BASE}/extract-document`);
    expect(calls[0]?.init.method).toBe("POST");
    const headers = new Headers(calls[0]?.init.headers);
    expect(headers.get("Authorization")).toBe("Bearer tok");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(String(calls[0]?.init.body))).toMatchObject({ fileName: "a.txt" });
    expect(calls[1]?.url).toBe(`${BASE}/jobs?count=10&offset=20`);
  });

  it("asks getToken before every request, so a refreshed token is used at once", async () => {
    const { fetch, calls } = scriptedFetch([
      answer(200, job("RUNNING")),
      answer(200, job("RUNNING")),
    ]);
    let version = 0;
    const client = createClient({ baseUrl: BASE, getToken: async () => `tok-${++version}`, fetch });

    await client.getJob("job-1");
    await client.getJob("job-1");

    const sent = calls.map((call) => new Headers(call.init.headers).get("Authorization"));
    expect(sent).toEqual(["Bearer tok-1", "Bearer tok-2"]);
  });

  it("escapes the job id into one path segment", async () => {
    const { fetch, calls } = scriptedFetch([answer(400, { error: "invalid id" })]);

    await expect(createClient({ baseUrl: BASE, fetch }).getJob("../admin")).rejects.toThrow();
    expect(calls[0]?.url).toBe(`${BASE}/jobs/..%2Fadmin`);
  });
});

describe("typed errors", () => {
  it("carry the status, the proxy's error message and code, and the request id", async () => {
    const { fetch } = scriptedFetch([
      answer(404, { error: "job not found", code: "job_not_found" }),
    ]);

    const error = await createClient({ baseUrl: BASE, fetch })
      .getJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({
      name: "WavelineProxyError",
      status: 404,
      error: "job not found",
      code: "job_not_found",
      requestId: "req-404",
      transient: false,
      message: "404 job not found (request req-404)",
    });
  });

  it("keep the status line when the body is not the proxy's JSON", async () => {
    const { fetch } = scriptedFetch([
      new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    ]);

    const error = await createClient({ baseUrl: BASE, fetch })
      .getJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toMatchObject({
      status: 502,
      error: "502 Bad Gateway",
      code: undefined,
      requestId: null,
    });
    expect((error as WavelineProxyError).transient).toBe(true);
  });

  it("read Retry-After, so a caller can wait as long as the proxy asks", async () => {
    const { fetch } = scriptedFetch([
      answer(503, { error: "upstream is busy" }, { "Retry-After": "7" }),
    ]);

    const error = await createClient({ baseUrl: BASE, fetch })
      .listJobs()
      .catch((err: unknown) => err);

    expect(error).toMatchObject({ status: 503, retryAfterMs: 7000 });
  });
});

describe("waitForJob", () => {
  it("polls when Retry-After says, and stops at a terminal status", async () => {
    const { fetch, calls, gaps } = scriptedFetch([
      answer(200, job("CREATED"), { "Retry-After": "3", "X-Cache": "MISS" }),
      answer(200, job("RUNNING"), { "Retry-After": "1", "X-Cache": "HIT; tier=memory" }),
      answer(200, job("COMPLETED", { total: 42 }), { "X-Cache": "MISS" }),
    ]);
    const seen: unknown[] = [];

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      onProgress: ({ job, cache, poll, nextPollInMs }) =>
        seen.push([poll, job.status, cache, nextPollInMs === undefined]),
    });
    await vi.runAllTimersAsync();

    expect((await done).result).toEqual({ total: 42 });
    const [first, second] = gaps();
    // Never before Retry-After, and only a little jitter after it.
    expect(first).toBeGreaterThanOrEqual(3000);
    expect(first).toBeLessThanOrEqual(3250);
    expect(second).toBeGreaterThanOrEqual(1000);
    expect(second).toBeLessThanOrEqual(1100);
    expect(seen).toEqual([
      [1, "CREATED", "MISS", false],
      [2, "RUNNING", "HIT; tier=memory", false],
      [3, "COMPLETED", "MISS", true],
    ]);
    expect(calls).toHaveLength(3);
  });

  it("resolves with a FAILED job too: it is terminal", async () => {
    const { fetch } = scriptedFetch([answer(200, job("FAILED"))]);

    const failed = await createClient({ baseUrl: BASE, fetch }).waitForJob("job-1");

    expect(failed.status).toBe("FAILED");
  });

  it("backs off exponentially with jitter without Retry-After, and on 502, 503 and 504", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { fetch, gaps } = scriptedFetch([
      answer(503, { error: "proxy is not configured" }),
      answer(502, { error: "upstream failed" }),
      answer(200, job("RUNNING")),
      answer(504, { error: "upstream timed out" }),
      new TypeError("fetch failed"),
      answer(200, job("COMPLETED")),
    ]);

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      minDelayMs: 1000,
      maxDelayMs: 8000,
    });
    await vi.runAllTimersAsync();

    expect((await done).status).toBe("COMPLETED");
    // Steps of 1, 2, 4, 8, 8 s; with random() = 0.5 each delay is three quarters of its step.
    expect(gaps()).toEqual([750, 1500, 3000, 6000, 6000]);
  });

  it("spreads the backoff between half a step and a whole step", async () => {
    const random = vi.spyOn(Math, "random").mockReturnValueOnce(0).mockReturnValueOnce(0.999);
    const { fetch, gaps } = scriptedFetch([
      answer(503, { error: "busy" }),
      answer(503, { error: "busy" }),
      answer(200, job("COMPLETED")),
    ]);

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", { minDelayMs: 1000 });
    await vi.runAllTimersAsync();
    await done;

    expect(random).toHaveBeenCalledTimes(2);
    const [first, second] = gaps();
    expect(first).toBe(500);
    expect(second).toBeGreaterThan(1990);
    expect(second).toBeLessThanOrEqual(2000);
  });

  it("follows a 503's Retry-After instead of its own backoff", async () => {
    const { fetch, gaps } = scriptedFetch([
      answer(503, { error: "upstream is busy" }, { "Retry-After": "5" }),
      answer(200, job("COMPLETED")),
    ]);

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1");
    await vi.runAllTimersAsync();
    await done;

    expect(gaps()[0]).toBeGreaterThanOrEqual(5000);
    expect(gaps()[0]).toBeLessThanOrEqual(5250);
  });

  it("gives up after maxRetries transient failures in a row, with the last typed error", async () => {
    const { fetch, calls } = scriptedFetch([
      answer(503, { error: "busy" }),
      answer(503, { error: "busy" }),
      answer(503, { error: "still busy" }),
    ]);

    const done = createClient({ baseUrl: BASE, fetch })
      .waitForJob("job-1", { maxRetries: 2 })
      .catch((err: unknown) => err);
    await vi.runAllTimersAsync();

    expect(await done).toMatchObject({ status: 503, error: "still busy" });
    expect(calls).toHaveLength(3);
  });

  it("does not retry what will not get better: 401, 403, 404", async () => {
    const { fetch, calls } = scriptedFetch([
      answer(401, { error: "missing or invalid credentials" }),
    ]);

    const done = createClient({ baseUrl: BASE, fetch })
      .waitForJob("job-1")
      .catch((err: unknown) => err);
    await vi.runAllTimersAsync();

    expect(await done).toMatchObject({ status: 401, error: "missing or invalid credentials" });
    expect(calls).toHaveLength(1);
  });

  it("stops at once when aborted between polls, with an AbortError, and polls no more", async () => {
    const { fetch, calls } = scriptedFetch([
      answer(200, job("RUNNING"), { "Retry-After": "30" }),
      answer(200, job("COMPLETED")),
    ]);
    const controller = new AbortController();

    const done = createClient({ baseUrl: BASE, fetch })
      .waitForJob("job-1", {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      })
      .catch((err: unknown) => err);
    const error = await done;
    await vi.runAllTimersAsync();

    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");
    expect(calls).toHaveLength(1);
  });

  it("rejects with the signal's own reason, also when aborted during a request", async () => {
    const controller = new AbortController();
    const fetch = vi.fn(
      (_url: string, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );
    const reason = new Error("user left the page");

    const done = createClient({ baseUrl: BASE, fetch })
      .waitForJob("job-1", { signal: controller.signal })
      .catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(reason);

    expect(await done).toBe(reason);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("does not start when the signal is already aborted", async () => {
    const { fetch } = scriptedFetch([answer(200, job("COMPLETED"))]);

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      signal: AbortSignal.abort(),
    });

    await expect(done).rejects.toMatchObject({ name: "AbortError" });
    expect(fetch).not.toHaveBeenCalled();
  });
});

/** An answer of the events route: SSE text in the given chunks; `open` keeps the body open. */
function eventStream(chunks: string[], { open = false, requestId = "req-stream" } = {}) {
  const encoder = new TextEncoder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (!open) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  const response = new Response(body, {
    headers: {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-store",
      "X-Request-Id": requestId,
    },
  });
  return { response, cancelled: () => cancelled };
}

function jobEvent(id: string, status: Job["status"], result: unknown = null): string {
  return `event: job\nid: ${id}\ndata: ${JSON.stringify(job(status, result))}\n\n`;
}

describe("watchJob", () => {
  it("reports each job event in order and resolves at the terminal one, with the token sent", async () => {
    const completed = jobEvent("e3", "COMPLETED", { total: 42 });
    const stream = eventStream(
      [
        "retry: 2000\n\n",
        jobEvent("e1", "CREATED"),
        ": keep-alive\n\nevent: unknown\ndata: {}\n\n",
        // One event torn across chunks, as TCP may deliver it.
        jobEvent("e2", "RUNNING").slice(0, 15),
        jobEvent("e2", "RUNNING").slice(15),
        completed.slice(0, completed.length - 1),
        "\n",
      ],
      { open: true },
    );
    const { fetch, streamCalls, calls } = scriptedFetch([], [stream.response]);
    const seen: unknown[] = [];

    const done = await createClient({ baseUrl: BASE, token: "tok", fetch }).watchJob("job-1", {
      onProgress: ({ job, via, poll, requestId, nextPollInMs }) =>
        seen.push([poll, via, job.status, requestId, nextPollInMs]),
    });

    expect(done.result).toEqual({ total: 42 });
    expect(seen).toEqual([
      [1, "stream", "CREATED", "req-stream", undefined],
      [2, "stream", "RUNNING", "req-stream", undefined],
      [3, "stream", "COMPLETED", "req-stream", undefined],
    ]);
    expect(streamCalls).toHaveLength(1);
    expect(calls).toHaveLength(0);
    expect(streamCalls[0]?.url).toBe(`${BASE}/jobs/job-1/events`);
    const headers = new Headers(streamCalls[0]?.init.headers);
    expect(headers.get("Authorization")).toBe("Bearer tok");
    expect(headers.get("Accept")).toBe("text/event-stream");
    expect(headers.has("Last-Event-ID")).toBe(false);
    // Resolved at the terminal event, not at the end of the body: it lets the connection go.
    expect(stream.cancelled()).toBe(true);
  });

  it("reconnects with Last-Event-ID after the stream's retry hint when it ends without a terminal job", async () => {
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [
        eventStream(["retry: 3000\n\n", jobEvent("e1", "CREATED"), jobEvent("e2", "RUNNING")])
          .response,
        eventStream([jobEvent("e3", "RUNNING")]).response,
        eventStream([jobEvent("e4", "COMPLETED")]).response,
      ],
    );
    const seen: string[] = [];

    const done = createClient({ baseUrl: BASE, token: "tok", fetch }).watchJob("job-1", {
      onProgress: ({ job }) => seen.push(job.status),
    });
    await vi.runAllTimersAsync();

    expect((await done).status).toBe("COMPLETED");
    expect(seen).toEqual(["CREATED", "RUNNING", "RUNNING", "COMPLETED"]);
    const lastIds = streamCalls.map((call) => new Headers(call.init.headers).get("Last-Event-ID"));
    expect(lastIds).toEqual([null, "e2", "e3"]);
    const gaps = streamCalls.slice(1).map((call, index) => call.at - (streamCalls[index]?.at ?? 0));
    expect(gaps).toEqual([3000, 3000]);
    expect(new Headers(streamCalls[2]?.init.headers).get("Authorization")).toBe("Bearer tok");
  });

  it("reopens a stream that stays silent longer than three keep-alives", async () => {
    const silent = eventStream([jobEvent("e1", "RUNNING")], { open: true });
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [silent.response, eventStream([jobEvent("e2", "COMPLETED")]).response],
    );

    const done = createClient({ baseUrl: BASE, fetch }).watchJob("job-1");
    await vi.advanceTimersByTimeAsync(44_999);
    expect(streamCalls).toHaveLength(1);
    await vi.runAllTimersAsync();

    expect((await done).status).toBe("COMPLETED");
    expect(silent.cancelled()).toBe(true);
    expect(new Headers(streamCalls[1]?.init.headers).get("Last-Event-ID")).toBe("e1");
    expect((streamCalls[1]?.at ?? 0) - (streamCalls[0]?.at ?? 0)).toBe(46_000);
  });

  it("gives up after maxRetries connections in a row that bring nothing, backing off", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [
        new TypeError("fetch failed"),
        eventStream([": keep-alive\n\n"]).response,
        new TypeError("fetch failed"),
        new TypeError("fetch failed"),
      ],
    );

    const done = createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1", { maxRetries: 2 })
      .catch((err: unknown) => err);
    await vi.runAllTimersAsync();

    expect(await done).toBeInstanceOf(TypeError);
    expect(streamCalls).toHaveLength(3);
    const gaps = streamCalls.slice(1).map((call, index) => call.at - (streamCalls[index]?.at ?? 0));
    // Steps of 1 and 2 s; with random() = 0.5 each delay is three quarters of its step.
    expect(gaps).toEqual([1000, 1500]);
  });

  it("rejects with a 502 WavelineProxyError on an error event, and does not reconnect", async () => {
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [
        eventStream([
          jobEvent("e1", "RUNNING"),
          'event: error\ndata: {"error":"upstream keeps failing","code":"upstream_error"}\n\n',
        ]).response,
      ],
    );

    const error = await createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({
      status: 502,
      error: "upstream keeps failing",
      code: "upstream_error",
      requestId: "req-stream",
    });
    expect(streamCalls).toHaveLength(1);
  });

  it.each([
    ["not JSON", "{"],
    ["not an object", "null"],
  ])("rejects with a 502 WavelineProxyError on a job event that is %s", async (_, data) => {
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [eventStream([`event: job\ndata: ${data}\n\n`]).response],
    );

    const error = await createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({ status: 502, requestId: "req-stream" });
    expect(streamCalls).toHaveLength(1);
  });

  it("rejects with the proxy's typed error when it refuses the stream", async () => {
    const { fetch, streamCalls } = scriptedFetch(
      [],
      [
        answer(
          429,
          { error: "too many open streams", code: "too_many_streams" },
          { "Retry-After": "10" },
        ),
      ],
    );

    const error = await createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({
      status: 429,
      error: "too many open streams",
      code: "too_many_streams",
      retryAfterMs: 10000,
    });
    expect(streamCalls).toHaveLength(1);
  });

  it("rejects at once with the signal's reason when aborted on an open stream, and lets it go", async () => {
    const stream = eventStream([jobEvent("e1", "RUNNING")], { open: true });
    const { fetch, streamCalls } = scriptedFetch([], [stream.response]);
    const controller = new AbortController();
    const reason = new Error("user left the page");

    const done = createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1", { signal: controller.signal, onProgress: () => controller.abort(reason) })
      .catch((err: unknown) => err);

    expect(await done).toBe(reason);
    expect(stream.cancelled()).toBe(true);
    await vi.runAllTimersAsync();
    expect(streamCalls).toHaveLength(1);
  });

  it("rejects at once when aborted while the stream is quiet", async () => {
    const stream = eventStream([jobEvent("e1", "RUNNING")], { open: true });
    const { fetch } = scriptedFetch([], [stream.response]);
    const controller = new AbortController();

    const done = createClient({ baseUrl: BASE, fetch })
      .watchJob("job-1", { signal: controller.signal })
      .catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();

    expect(await done).toMatchObject({ name: "AbortError" });
    expect(stream.cancelled()).toBe(true);
  });
});

describe("waitForJob with the event stream", () => {
  it("follows the stream and sends no poll when the proxy has it", async () => {
    const { fetch, calls } = scriptedFetch(
      [],
      [eventStream([jobEvent("e1", "RUNNING"), jobEvent("e2", "COMPLETED")]).response],
    );
    const via: string[] = [];

    const done = await createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      onProgress: (progress) => via.push(progress.via),
    });

    expect(done.status).toBe("COMPLETED");
    expect(via).toEqual(["stream", "stream"]);
    expect(calls).toHaveLength(0);
  });

  it("polls when the proxy has no events route (404)", async () => {
    const { fetch, calls, streamCalls } = scriptedFetch(
      [answer(200, job("RUNNING"), { "Retry-After": "1" }), answer(200, job("COMPLETED"))],
      [answer(404, { error: "not found" })],
    );
    const seen: unknown[] = [];

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      onProgress: ({ via, poll }) => seen.push([poll, via]),
    });
    await vi.runAllTimersAsync();

    expect((await done).status).toBe("COMPLETED");
    expect(streamCalls).toHaveLength(1);
    expect(calls).toHaveLength(2);
    expect(seen).toEqual([
      [1, "poll"],
      [2, "poll"],
    ]);
  });

  it("polls on from where a stream that keeps breaking left off", async () => {
    const { fetch, calls, streamCalls } = scriptedFetch(
      [answer(200, job("COMPLETED"))],
      [
        eventStream([jobEvent("e1", "RUNNING")]).response,
        new TypeError("fetch failed"),
        eventStream([]).response,
        new TypeError("fetch failed"),
      ],
    );
    const seen: unknown[] = [];

    const done = createClient({ baseUrl: BASE, fetch }).waitForJob("job-1", {
      onProgress: ({ job, via, poll }) => seen.push([poll, via, job.status]),
    });
    await vi.runAllTimersAsync();

    expect((await done).status).toBe("COMPLETED");
    // One stream that brought news, then three that did not (the first try and two retries).
    expect(streamCalls).toHaveLength(4);
    expect(new Headers(streamCalls[3]?.init.headers).get("Last-Event-ID")).toBe("e1");
    expect(calls).toHaveLength(1);
    expect(seen).toEqual([
      [1, "stream", "RUNNING"],
      [2, "poll", "COMPLETED"],
    ]);
  });

  it.each([
    ["an error event", eventStream(['event: error\ndata: {"error":"upstream failing"}\n\n'])],
    ["too many open streams (429)", { response: answer(429, { error: "too many streams" }) }],
    // An older proxy's /jobs/{id} route takes "job-1/events" for an id, and refuses it.
    ["an older proxy's 400", { response: answer(400, { error: "invalid id" }) }],
    ["a 503", { response: answer(503, { error: "busy" }) }],
  ])("polls after %s", async (_, stream) => {
    const { fetch, calls } = scriptedFetch([answer(200, job("COMPLETED"))], [stream.response]);

    const done = await createClient({ baseUrl: BASE, fetch }).waitForJob("job-1");

    expect(done.status).toBe("COMPLETED");
    expect(calls).toHaveLength(1);
  });

  it("does not poll when the proxy refuses the token on the events route", async () => {
    const { fetch, calls } = scriptedFetch(
      [answer(200, job("COMPLETED"))],
      [answer(401, { error: "missing or invalid credentials" })],
    );

    const error = await createClient({ baseUrl: BASE, fetch })
      .waitForJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toMatchObject({ status: 401 });
    expect(calls).toHaveLength(0);
  });
});
