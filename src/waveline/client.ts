import type * as z from "zod/mini";
import type { Config } from "../core/config";
import { UpstreamError } from "../core/errors";
import type { Logger } from "../core/log";
import {
  type CreatedJob,
  createdJobSchema,
  type Job,
  type JobList,
  jobListSchema,
  jobSchema,
  upstreamErrorSchema,
} from "./schema";

/**
 * The calls this proxy makes to Waveline, one client per isolate; `log` is the calling request's.
 * Every failure is an `UpstreamError` saying what went wrong.
 */
export interface WavelineClient {
  getJob(id: string, log: Logger): Promise<Job>;
  /**
   * Creates a job; `body` is the client's JSON, passed through as it is. Never retried. An
   * `UpstreamError` with `createdNothing` is Waveline saying no job was made.
   */
  createJob(
    kind: JobKind,
    body: Uint8Array<ArrayBuffer> | string,
    log: Logger,
  ): Promise<CreatedJob>;
  /** One page of the account's jobs, newest first (`count` at most 100): for settlement only. */
  listJobs(offset: number, count: number, log: Logger): Promise<JobList["items"]>;
}

/** Whether a failed creation certainly made no job: Waveline refused it (401, 403, 404, 429). */
export function createdNothing(err: unknown): boolean {
  return err instanceof UpstreamError && err.options.createdNothing === true;
}

export type JobKind = "extract-document" | "guess-shape";

export interface WavelineClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Budget for the whole call, retry and body included. */
  timeoutMs: number;
  /** A longer answer is a 502, and the rest of it is never read. */
  maxBodyBytes: number;
  random?: () => number;
}

interface UpstreamAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** Statuses that mean "try again" rather than "this is the answer". */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);
const RETRY_JITTER_MS = { min: 50, spread: 200 };
/** A retry that would have less than this left to run is not worth starting. */
const MIN_ATTEMPT_MS = 250;
const DEFAULT_RETRY_AFTER_S = 10;

/** An upstream body over the cap: reading stopped there. */
class UpstreamTooLargeError extends Error {
  override name = "UpstreamTooLargeError";
}

/** The body as text, counting bytes as they arrive: past `maxBytes` the stream is cancelled. */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (Number(response.headers.get("Content-Length")) > maxBytes) {
    await response.body?.cancel();
    throw new UpstreamTooLargeError();
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel();
      throw new UpstreamTooLargeError();
    }
    text += decoder.decode(value, { stream: true });
  }
}

/** Which upstream call this is, with no job id or query in it: `GET /jobs/{id}`. */
function callOf(method: string, path: string): string {
  const route = path.split("?")[0]?.replace(/^\/jobs\/.+$/, "/jobs/{id}");
  return `${method} ${route}`;
}

export function createWavelineClient(options: WavelineClientOptions): WavelineClient {
  const random = options.random ?? Math.random;

  async function send(
    method: "GET" | "POST",
    path: string,
    log: Logger,
    body?: Uint8Array<ArrayBuffer> | string,
  ): Promise<UpstreamAnswer> {
    const deadline = Date.now() + options.timeoutMs;
    const started = Date.now();
    let attempts = 0;
    for (;;) {
      attempts++;
      const retryDelay = RETRY_JITTER_MS.min + random() * RETRY_JITTER_MS.spread;
      // A POST that failed may still have created a job: retrying could bill it twice.
      const canRetry =
        method === "GET" && attempts === 1 && deadline - Date.now() - retryDelay >= MIN_ATTEMPT_MS;
      const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      let answer: UpstreamAnswer | undefined;
      try {
        const response = await fetch(`${options.baseUrl}${path}`, {
          method,
          headers: {
            Authorization: `Bearer ${options.apiKey}`,
            Accept: "application/json",
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          },
          body,
          signal,
          redirect: "manual",
        });
        answer = {
          status: response.status,
          headers: response.headers,
          body: await readCapped(response, options.maxBodyBytes),
        };
      } catch (err) {
        log.annotate({
          upstreamCall: callOf(method, path),
          upstreamAttempts: attempts,
          upstreamMs: Date.now() - started,
        });
        if (err instanceof UpstreamTooLargeError) {
          log.warn("upstream answer over MAX_UPSTREAM_BODY_BYTES", {
            maxBytes: options.maxBodyBytes,
          });
          throw new UpstreamError("bad-answer", "upstream answer is too large");
        }
        if (signal.aborted) throw new UpstreamError("timeout", "upstream did not answer in time");
        log.warn("upstream unreachable", { attempt: attempts, error: errorName(err) });
        if (!canRetry) throw new UpstreamError("bad-answer", "upstream unreachable");
      }
      if (answer) {
        log.annotate({
          upstreamCall: callOf(method, path),
          upstreamStatus: answer.status,
          upstreamAttempts: attempts,
          upstreamMs: Date.now() - started,
        });
        if (!(RETRYABLE_STATUSES.has(answer.status) && canRetry)) return answer;
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelay));
    }
  }

  function failOnError(answer: UpstreamAnswer, notFound: string, log: Logger): void {
    const { status } = answer;
    if (status >= 200 && status < 300) return;
    // Waveline's own refusals, which make no job; any other answer may have made one.
    const refused = { createdNothing: true };
    if (status === 400) {
      throw new UpstreamError("refused", upstreamMessage(answer) ?? "bad request");
    }
    if (status === 401 || status === 403) {
      log.alert("upstream rejected the proxy's credentials: check WAVELINE_API_KEY", {
        upstreamStatus: status,
      });
      throw new UpstreamError("bad-answer", "upstream rejected the proxy's credentials", refused);
    }
    if (status === 404) throw new UpstreamError("not-found", notFound, refused);
    if (status === 429) {
      throw new UpstreamError("busy", "upstream is busy, retry later", {
        ...refused,
        retryAfterS: retryAfterSeconds(answer.headers.get("Retry-After")),
      });
    }
    if (status >= 500) throw new UpstreamError("bad-answer", "upstream error");
    throw new UpstreamError("bad-answer", "upstream sent an unexpected answer");
  }

  /** Waveline's own words for a 400, minus anything that looks like our key. */
  function upstreamMessage(answer: UpstreamAnswer): string | undefined {
    const parsed = upstreamErrorSchema.safeParse(parseJson(answer.body));
    if (!parsed.success) return undefined;
    return parsed.data.error.split(options.apiKey).join("[redacted]").slice(0, 500);
  }

  function parseAnswer<T>(answer: UpstreamAnswer, schema: z.ZodMiniType<T>, log: Logger): T {
    const parsed = schema.safeParse(parseJson(answer.body));
    if (!parsed.success) {
      log.warn("upstream sent an invalid job", { issue: parsed.error.issues[0]?.message });
      throw new UpstreamError("bad-answer", "upstream sent an invalid answer");
    }
    return parsed.data;
  }

  return {
    async getJob(id, log) {
      const answer = await send("GET", `/jobs/${encodeURIComponent(id)}`, log);
      failOnError(answer, "job not found", log);
      const job = parseAnswer(answer, jobSchema, log);
      // Served, cached or recorded under the asked id, another job's answer would reach the
      // wrong reader: it is no answer at all.
      if (job.id !== id) {
        log.warn("upstream answered another job", { jobId: id });
        throw new UpstreamError("bad-answer", "upstream answered another job");
      }
      return job;
    },
    async createJob(kind, body, log) {
      const answer = await send("POST", `/${kind}`, log, body);
      failOnError(answer, "not found", log);
      return parseAnswer(answer, createdJobSchema, log);
    },
    async listJobs(offset, count, log) {
      const answer = await send("GET", `/jobs?count=${count}&offset=${offset}`, log);
      failOnError(answer, "job listing not found", log);
      return parseAnswer(answer, jobListSchema, log).items;
    },
  };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Seconds to wait, from a Retry-After of seconds or an HTTP date; bounded to stay sensible. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number {
  if (!header) return DEFAULT_RETRY_AFTER_S;
  const seconds = /^\d+$/.test(header.trim())
    ? Number(header.trim())
    : Math.ceil((Date.parse(header) - now) / 1000);
  if (!Number.isFinite(seconds)) return DEFAULT_RETRY_AFTER_S;
  return Math.min(Math.max(seconds, 1), 3600);
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "unknown";
}

/** The Waveline client of these settings; none without an API key (routes then answer 503). */
export function wavelineClientFor(config: Config): WavelineClient | undefined {
  const { wavelineApiKey, wavelineApiUrl, upstreamTimeoutMs, maxUpstreamBodyBytes } = config;
  return wavelineApiKey
    ? createWavelineClient({
        baseUrl: wavelineApiUrl,
        apiKey: wavelineApiKey,
        timeoutMs: upstreamTimeoutMs,
        maxBodyBytes: maxUpstreamBodyBytes,
      })
    : undefined;
}
