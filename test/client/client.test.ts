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
  it("carry the status, the proxy's error message and the request id", async () => {
    const { fetch } = scriptedFetch([answer(404, { error: "job not found" })]);

    const error = await createClient({ baseUrl: BASE, fetch })
      .getJob("job-1")
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(WavelineProxyError);
    expect(error).toMatchObject({
      name: "WavelineProxyError",
      status: 404,
      error: "job not found",
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

    expect(error).toMatchObject({ status: 502, error: "502 Bad Gateway", requestId: null });
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
