/**
 * A typed client of the Waveline edge proxy for front-ends, in browsers and on servers alike:
 * web-standard `fetch`, `Headers`, `AbortSignal` and timers only, nothing of Node or of the Worker
 * at run time; its one dependency, `eventsource-parser`, reads the job's event stream.
 *
 *   const proxy = createClient({ baseUrl: "https://proxy.example.com", token });
 *   const { id } = await proxy.createExtraction({ fileName, contentType, content, shape });
 *   const job = await proxy.waitForJob(id, { signal, onProgress: (p) => show(p.job.status) });
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

/**
 * The statuses Waveline documents. It may add more (say `QUEUED`): those mean "not finished yet".
 * Kept equal to `src/waveline/schema.ts` by `test/client/types.test.ts`.
 */
export type JobStatus = "CREATED" | "RUNNING" | "FAILED" | "COMPLETED" | (string & {});

/** A job as `GET /jobs/{id}` answers it; fields Waveline adds later pass through. */
export interface Job {
  id: string;
  createdAt: string;
  status: JobStatus;
  type: string;
  pages: number;
  fileName: string;
  /** The extracted data once COMPLETED; null before. */
  result: unknown;
  urls: { get: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** What `GET /jobs` lists: a job without its result. */
export type JobSummary = Omit<Job, "result">;

export interface JobPage {
  items: JobSummary[];
  offset: number;
  count: number;
  total: number;
}

/** What the creating routes answer: Waveline's new job, with `urls.get` pointing at the proxy. */
export type CreatedJob = Partial<Job> & { id: string; urls: { get: string } };

export type ShapeElement =
  | { name: string; type: "string" | "number" | "boolean"; description?: string; isArray?: boolean }
  | { name: string; type: "object"; description?: string; isArray?: boolean; elements: Shape };
export type Shape = ShapeElement[];

/** A document for Waveline: `content` (text) or `data` (base64); other fields pass through. */
export interface DocumentRequest {
  fileName: string;
  /** A MIME type, e.g. `text/plain` or `application/pdf`. */
  contentType: string;
  content?: string;
  data?: string;
  [field: string]: unknown;
}

export interface ExtractionRequest extends DocumentRequest {
  shape?: Shape;
}

export interface ClientOptions {
  /** The proxy's URL, with or without `/api/v1`. */
  baseUrl: string;
  /** A browser token (or, on a server, a tenant API key). */
  token?: string;
  /** Called before every request, so a token refreshed by the backend is picked up. */
  getToken?: () => string | Promise<string>;
  /** Defaults to the global `fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

export interface JobProgress {
  job: Job;
  /** `stream`: an event of `GET /jobs/{id}/events`; `poll`: an answer of `GET /jobs/{id}`. */
  via: "stream" | "poll";
  /** The proxy's `X-Cache`: `HIT; tier=memory|cache|kv`, `MISS` or `BYPASS`. */
  cache: string | null;
  /** The `X-Request-Id` of the poll, or of the stream that carried the event. */
  requestId: string | null;
  /** Updates so far (stream events and polls answered), this one included. */
  poll: number;
  /** When the next poll will be sent; undefined on stream events and once the job is terminal. */
  nextPollInMs: number | undefined;
}

export interface WatchOptions {
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  /**
   * Connections in a row that fail or end before any update (a dropped stream is reconnected
   * with `Last-Event-ID`) before giving up. Default 5.
   */
  maxRetries?: number;
}

export interface WaitOptions {
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress) => void;
  /** First delay when the proxy sends no Retry-After; it doubles from there. Default 1000. */
  minDelayMs?: number;
  /** Largest delay of the backoff (a Retry-After is followed even when longer). Default 30000. */
  maxDelayMs?: number;
  /** Transient failures in a row (no answer, 429, 502, 503, 504) before giving up. Default 5. */
  maxRetries?: number;
}

export interface CreateOptions {
  signal?: AbortSignal;
  /**
   * The request's `Idempotency-Key`; a fresh UUID when not given. Pass your own (saved with your
   * order, say) to make retries across page reloads or processes create one job too.
   */
  idempotencyKey?: string;
  /** Retries, with the same key, after no answer, 409, 429 or 503. Default 3. */
  maxRetries?: number;
}

export interface WavelineProxyClient {
  getJob(id: string, init?: { signal?: AbortSignal }): Promise<Job>;
  /** Creates a job once, however often the request has to be sent (`Idempotency-Key`). */
  createExtraction(body: ExtractionRequest, init?: CreateOptions): Promise<CreatedJob>;
  guessShape(body: DocumentRequest, init?: CreateOptions): Promise<CreatedJob>;
  listJobs(
    page?: { count?: number; offset?: number },
    init?: { signal?: AbortSignal },
  ): Promise<JobPage>;
  /**
   * Follows the job's event stream until it is COMPLETED or FAILED and resolves with it;
   * reconnects when the stream ends early; rejects when aborted or when the proxy refuses.
   */
  watchJob(id: string, options?: WatchOptions): Promise<Job>;
  /**
   * Resolves with the job once COMPLETED or FAILED: follows its event stream, and polls instead
   * when the proxy has no stream for it (an older proxy, too many streams, trouble); rejects when
   * aborted.
   */
  waitForJob(id: string, options?: WaitOptions): Promise<Job>;
}

/**
 * The proxy's `code` for each cause of an error (README, "Errors"): branch on it, not on the
 * message. A proxy newer than this client may send a code not listed here.
 */
export type ProxyErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "invalid_idempotency_key"
  | "api_key_in_url"
  | "token_too_long"
  | "upstream_refused"
  | "authentication_failed"
  | "budget_exhausted"
  | "tenant_disabled"
  | "api_key_required"
  | "scope_missing"
  | "origin_not_allowed"
  | "not_found"
  | "job_not_found"
  | "tenant_not_found"
  | "api_key_not_found"
  | "webhook_not_found"
  | "method_not_allowed"
  | "idempotency_key_in_flight"
  | "webhook_endpoint_limit"
  | "body_too_large"
  | "url_too_long"
  | "idempotency_key_reused"
  | "idempotency_key_not_readable"
  | "rate_limited"
  | "too_many_streams"
  | "too_many_redeliveries"
  | "too_many_auth_failures"
  | "headers_too_large"
  | "internal_error"
  | "upstream_error"
  | "upstream_job_unusable"
  | "upstream_job_id_taken"
  | "job_not_recorded"
  | "idempotency_outcome_unknown"
  | "not_configured"
  | "upstream_unavailable"
  | "storage_unavailable"
  | "rate_limiter_unavailable"
  | "idempotency_unavailable"
  | "live_updates_unavailable"
  | "webhooks_unavailable"
  | "cache_purge_failed"
  | "metrics_unavailable"
  | "upstream_timeout"
  | (string & {});

/**
 * An answer of the proxy that is not a success: its status, its `{ "error", "code" }` and the
 * request id to quote to an operator. A request with no answer at all (offline, refused by CORS)
 * rejects with fetch's own TypeError instead.
 */
export class WavelineProxyError extends Error {
  override readonly name = "WavelineProxyError";
  readonly status: number;
  /** The proxy's `error` message, for people. */
  readonly error: string;
  /** The proxy's `code`, for programs; undefined when the answer was not the proxy's JSON. */
  readonly code: ProxyErrorCode | undefined;
  /** The response's `X-Request-Id`. */
  readonly requestId: string | null;
  /** From `Retry-After`, when the proxy sent one. */
  readonly retryAfterMs: number | undefined;
  /** The stored answer of an earlier request with the same `Idempotency-Key`. */
  readonly replayed: boolean;
  /** A job Waveline created that the proxy could not hand out (502): quote it to an operator. */
  readonly jobId: string | undefined;

  constructor(
    status: number,
    error: string,
    requestId: string | null,
    retryAfterMs?: number,
    details: { replayed?: boolean; jobId?: string; code?: string } = {},
  ) {
    super(`${status} ${error}${requestId ? ` (request ${requestId})` : ""}`);
    this.status = status;
    this.error = error;
    this.requestId = requestId;
    this.retryAfterMs = retryAfterMs;
    this.replayed = details.replayed ?? false;
    this.jobId = details.jobId;
    this.code = details.code;
  }

  /** Worth retrying later: rate limited, or the proxy or Waveline briefly unavailable. */
  get transient(): boolean {
    return TRANSIENT_STATUSES.has(this.status);
  }
}

const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["COMPLETED", "FAILED"]);
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Answers after which sending a creation again, with its key, can only help. */
const CREATION_RETRY_STATUSES: ReadonlySet<number> = new Set([409, 429, 503]);
/**
 * Answers of the events route that polling may still get past: an older proxy without the route
 * (400: its `/jobs/{id}` takes `id/events` for a bad id; 404, 405), too many open streams (429);
 * any 5xx too.
 */
const POLL_INSTEAD_STATUSES: ReadonlySet<number> = new Set([400, 404, 405, 429]);
/** Until the stream's `retry:` says otherwise. */
const DEFAULT_RECONNECT_MS = 1000;
/**
 * The proxy sends a comment every 15 s: this long without a byte means a connection that died
 * without a word (a sleeping laptop, a changed network), so the stream is reopened.
 */
const STREAM_IDLE_TIMEOUT_MS = 45_000;
/** waitForJob gives the stream few chances: polling is a good way to wait too. */
const STREAM_RETRIES_BEFORE_POLLING = 2;
/** Spreads clients that were told the same Retry-After, so they do not poll in lockstep. */
const RETRY_AFTER_JITTER_MS = 250;

export function createClient(options: ClientOptions): WavelineProxyClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // Unbound `fetch` throws "Illegal invocation" in browsers: always call it on globalThis.
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function request(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    const token = options.getToken ? await options.getToken() : options.token;
    if (token) headers.set("Authorization", `Bearer ${token}`);
    const response = await send(`${baseUrl}${path}`, { ...init, headers });
    if (!response.ok) throw await proxyError(response);
    return response;
  }

  async function fetchJob(id: string, signal?: AbortSignal) {
    const response = await request(`/jobs/${encodeURIComponent(id)}`, { signal });
    return { job: (await response.json()) as Job, headers: response.headers };
  }

  /** One key for every attempt: the proxy creates the job once and answers retries with it. */
  async function create(
    path: string,
    body: DocumentRequest,
    init: CreateOptions,
  ): Promise<CreatedJob> {
    const { signal } = init;
    const headers = {
      "Content-Type": "application/json",
      "Idempotency-Key": init.idempotencyKey ?? crypto.randomUUID(),
    };
    const payload = JSON.stringify(body);
    const backoff = backoffDelays(1000, 30_000);
    const maxRetries = init.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      try {
        const response = await request(path, { method: "POST", headers, body: payload, signal });
        return (await response.json()) as CreatedJob;
      } catch (err) {
        throwIfAborted(signal);
        // 502 and 504 are the first request's own outcome, replayed for this key: final.
        const retryable =
          err instanceof WavelineProxyError
            ? !err.replayed && CREATION_RETRY_STATUSES.has(err.status)
            : isNetworkError(err);
        if (!retryable || attempt >= maxRetries) throw err;
        const retryAfter = err instanceof WavelineProxyError ? err.retryAfterMs : undefined;
        await sleep(retryAfter === undefined ? backoff.next() : withJitter(retryAfter), signal);
      }
    }
  }

  return {
    async getJob(id, init = {}) {
      return (await fetchJob(id, init.signal)).job;
    },

    createExtraction: (body, init = {}) => create("/extract-document", body, init),

    guessShape: (body, init = {}) => create("/guess-shape", body, init),

    async listJobs(page = {}, init = {}) {
      const query = new URLSearchParams();
      if (page.count !== undefined) query.set("count", String(page.count));
      if (page.offset !== undefined) query.set("offset", String(page.offset));
      const search = query.toString() ? `?${query}` : "";
      return (await (await request(`/jobs${search}`, { signal: init.signal })).json()) as JobPage;
    },

    watchJob: (id, watch = {}) => followEvents(id, watch),

    async waitForJob(id, wait = {}) {
      let updates = 0;
      const onProgress = (progress: JobProgress) => {
        updates = progress.poll;
        wait.onProgress?.(progress);
      };
      try {
        return await followEvents(id, {
          signal: wait.signal,
          onProgress,
          maxRetries: STREAM_RETRIES_BEFORE_POLLING,
        });
      } catch (err) {
        throwIfAborted(wait.signal);
        if (!pollingMayHelp(err)) throw err;
      }
      return pollUntilTerminal(id, wait, updates);
    },
  };

  /** `GET /jobs/{id}/events` until a terminal job; an early end reconnects with Last-Event-ID. */
  async function followEvents(id: string, watch: WatchOptions): Promise<Job> {
    const { signal, onProgress } = watch;
    const maxRetries = watch.maxRetries ?? 5;
    let reconnectMs = DEFAULT_RECONNECT_MS;
    let backoff = backoffDelays(DEFAULT_RECONNECT_MS, 30_000);
    let lastEventId: string | undefined;
    let failuresInARow = 0;
    let updates = 0;
    for (;;) {
      throwIfAborted(signal);
      const updatesBefore = updates;
      let failure: unknown;
      try {
        const headers = new Headers({ Accept: "text/event-stream" });
        if (lastEventId !== undefined) headers.set("Last-Event-ID", lastEventId);
        const response = await request(`/jobs/${encodeURIComponent(id)}/events`, {
          headers,
          signal,
        });
        const requestId = response.headers.get("X-Request-Id");
        const contentType = response.headers.get("Content-Type") ?? "";
        if (!response.body || !contentType.startsWith("text/event-stream")) {
          throw new WavelineProxyError(502, "the proxy sent no event stream", requestId);
        }
        const events = serverSentEvents(response.body, signal, (ms) => {
          reconnectMs = ms;
        });
        for await (const event of events) {
          throwIfAborted(signal);
          if (event.id !== undefined) lastEventId = event.id;
          if (event.event === "error") {
            const { error, code } = streamError(event.data);
            throw new WavelineProxyError(502, error, requestId, undefined, { code });
          }
          if (event.event !== "job") continue;
          const job = parseJobEvent(event.data, requestId);
          updates += 1;
          onProgress?.({
            job,
            via: "stream",
            cache: response.headers.get("X-Cache"),
            requestId,
            poll: updates,
            nextPollInMs: undefined,
          });
          if (TERMINAL_STATUSES.has(job.status)) return job;
        }
        failure = new WavelineProxyError(
          502,
          "the event stream ended before any update",
          requestId,
        );
      } catch (err) {
        throwIfAborted(signal);
        // Only a lost connection is worth another: refusals and the proxy's own verdicts are final.
        if (!isNetworkError(err)) throw err;
        failure = err;
      }
      throwIfAborted(signal);
      // A stream that brought news was healthy (the proxy ends each one after a few minutes).
      if (updates > updatesBefore) {
        failuresInARow = 0;
        backoff = backoffDelays(DEFAULT_RECONNECT_MS, 30_000);
      } else if (++failuresInARow > maxRetries) {
        throw failure;
      }
      const delayMs = failuresInARow === 0 ? reconnectMs : Math.max(reconnectMs, backoff.next());
      await sleep(delayMs, signal);
    }
  }

  /** Polls `GET /jobs/{id}` until a terminal job, counting updates on from `updatesSoFar`. */
  async function pollUntilTerminal(id: string, wait: WaitOptions, updatesSoFar: number) {
    const { signal, onProgress } = wait;
    const backoff = backoffDelays(wait.minDelayMs ?? 1000, wait.maxDelayMs ?? 30_000);
    const maxRetries = wait.maxRetries ?? 5;
    let failuresInARow = 0;
    let poll = updatesSoFar;
    for (;;) {
      throwIfAborted(signal);
      let delayMs: number;
      try {
        const { job, headers } = await fetchJob(id, signal);
        failuresInARow = 0;
        poll += 1;
        const terminal = TERMINAL_STATUSES.has(job.status);
        const retryAfter = retryAfterMs(headers.get("Retry-After"));
        const next = terminal
          ? undefined
          : retryAfter === undefined
            ? backoff.next()
            : withJitter(retryAfter);
        onProgress?.({
          job,
          via: "poll",
          cache: headers.get("X-Cache"),
          requestId: headers.get("X-Request-Id"),
          poll,
          nextPollInMs: next,
        });
        if (next === undefined) return job;
        delayMs = next;
      } catch (err) {
        throwIfAborted(signal);
        const transient = err instanceof WavelineProxyError ? err.transient : isNetworkError(err);
        failuresInARow += 1;
        if (!transient || failuresInARow > maxRetries) throw err;
        const retryAfter = err instanceof WavelineProxyError ? err.retryAfterMs : undefined;
        delayMs = retryAfter === undefined ? backoff.next() : withJitter(retryAfter);
      }
      await sleep(delayMs, signal);
    }
  }
}

/** The events of an SSE body, in order; the body is cancelled when the caller stops or aborts. */
async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  onRetry: (ms: number) => void,
): AsyncGenerator<EventSourceMessage> {
  const parsed: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => parsed.push(event), onRetry });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  // A fetch that ignores the signal once its body streams must still let go at once.
  const stop = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", stop, { once: true });
  let idle: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      idle = setTimeout(stop, STREAM_IDLE_TIMEOUT_MS);
      const { done, value } = await reader.read();
      clearTimeout(idle);
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      yield* parsed.splice(0);
    }
  } finally {
    clearTimeout(idle);
    signal?.removeEventListener("abort", stop);
    stop();
  }
}

function parseJobEvent(data: string, requestId: string | null): Job {
  let job: unknown;
  try {
    job = JSON.parse(data);
  } catch {
    // Left as is, the SyntaxError would pass for neither a lost connection nor the proxy's word.
  }
  if (typeof job !== "object" || job === null) {
    throw new WavelineProxyError(
      502,
      "the event stream sent a job that is not a JSON object",
      requestId,
    );
  }
  return job as Job;
}

/** The proxy's `{ "error", "code" }` of an `event: error`. */
function streamError(data: string): { error: string; code?: string } {
  try {
    const body = JSON.parse(data) as { error?: unknown; code?: unknown };
    if (typeof body?.error === "string") {
      return { error: body.error, code: typeof body.code === "string" ? body.code : undefined };
    }
  } catch {
    // Not the proxy's JSON: say what happened without its words.
  }
  return { error: "the job's event stream failed" };
}

/** What the events route or its stream may meet that polling does not: fall back, don't fail. */
function pollingMayHelp(err: unknown): boolean {
  if (!(err instanceof WavelineProxyError)) return isNetworkError(err);
  return POLL_INSTEAD_STATUSES.has(err.status) || err.status >= 500;
}

async function proxyError(response: Response): Promise<WavelineProxyError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let jobId: string | undefined;
  let code: string | undefined;
  try {
    const body = (await response.json()) as { error?: unknown; code?: unknown; jobId?: unknown };
    if (typeof body?.error === "string") message = body.error;
    if (typeof body?.code === "string") code = body.code;
    if (typeof body?.jobId === "string") jobId = body.jobId;
  } catch {
    // Not the proxy's JSON (a gateway's HTML page, say): keep the status line.
  }
  return new WavelineProxyError(
    response.status,
    message,
    response.headers.get("X-Request-Id"),
    retryAfterMs(response.headers.get("Retry-After")),
    { replayed: response.headers.get("Idempotent-Replayed") === "true", jobId, code },
  );
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date (RFC 9110). */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Exponential backoff with "equal jitter": each delay lies between half its step and the step. */
function backoffDelays(minMs: number, maxMs: number) {
  let step = 0;
  return {
    next(): number {
      const ceiling = Math.min(maxMs, minMs * 2 ** step);
      step += 1;
      return ceiling / 2 + (Math.random() * ceiling) / 2;
    },
  };
}

function withJitter(ms: number): number {
  return ms + Math.random() * Math.min(RETRY_AFTER_JITTER_MS, ms / 10);
}

/** fetch rejects with a TypeError when no answer came (offline, connection reset, CORS). */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  // An abort that already happened (in onProgress, say) fires no event any more.
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
