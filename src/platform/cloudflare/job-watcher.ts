import { DurableObject } from "cloudflare:workers";
import { type CachedJob, isTerminal, toCachedJob } from "../../core/cache/entry";
import { readConfig } from "../../core/config";
import {
  type ErrorCode,
  UPSTREAM_CODES,
  UpstreamError,
  type UpstreamFailure,
} from "../../core/errors";
import type { Logger } from "../../core/log";
import { billedTallies } from "../../core/metrics/tally";
import { STORAGE_TIMEOUT_MS } from "../../core/tenancy/guard";
import { withTimeout } from "../../core/timeout";
import {
  type JobWatchers,
  jobEvent,
  STREAM_LIFETIME_MS,
  type WatchedJob,
} from "../../core/watching/events";
import { eventOfStatus, webhookBody } from "../../core/webhooks/payload";
import { createWavelineClient } from "../../waveline/client";
import type { Job } from "../../waveline/schema";
import { budgetAlertsToOutboxes } from "./budget-alerts";
import { d1JobStore } from "./d1-stores";
import { kvTier } from "./kv-tier";
import { isolateLog } from "./log";
import { recordFromObject } from "./tenant-metrics";
import { outboxOf } from "./webhook-outbox";

const KEEP_ALIVE_MS = 15_000;
const RECONNECT_HINT_MS = 2_000;
/** Polls of a long job slow down to this. */
const MAX_POLL_INTERVAL_MS = 10_000;
const MIN_POLL_INTERVAL_MS = 500;
/** Jobs usually take tens of seconds: until a job has run this long, polls keep their pace. */
const LONG_JOB_MS = 60_000;
/** Upstream trouble this long ends the streams with `event: error`. */
const GIVE_UP_AFTER_MS = 60_000;
/** A job watched for webhooks that has not ended after this is given up (it outlived Waveline's). */
const NOTIFY_FOR_MS = 3 * 24 * 60 * 60_000;
/** An outbox that could not take a finished job's event is asked again after this. */
const NOTIFY_RETRY_MS = 5_000;

/**
 * Kept in storage: a job whose outcome a tenant wants as a webhook, watched with no reader. Which
 * tenant is asked of D1 when the job ends: its owner then, not the one that asked for the watch.
 */
interface Notify {
  jobId: string;
  /** The job's URL on the proxy, for the webhook's `urls.get`. */
  self: string;
  since: number;
}

interface Subscriber {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The proxy's URL of the job, under the mount this subscriber used. */
  self: string;
  lastSent: string | undefined;
  ends: ReturnType<typeof setTimeout>;
}

const encoder = new TextEncoder();

/**
 * One per running job (named by job id): the single place that asks Waveline about that job
 * while it runs, wherever its readers are. Readers share its last answer while it is fresh;
 * subscribers get a Server-Sent Events stream that it feeds from its own polling (an alarm),
 * which stops once nobody listens. A terminal answer goes to KV and D1, then the watcher is done.
 */
export class JobWatcher extends DurableObject<Env> {
  /** The last answer while the job runs; a finished job is in KV, not here (results are MiBs). */
  private last: CachedJob | undefined;
  private finished = false;
  private polling: Promise<WatchedJob> | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private intervalMs = MIN_POLL_INTERVAL_MS;
  /** When this watcher first saw the job, to tell a long job from a usual one. */
  private watchingSince = Date.now();
  private failingSince: number | undefined;
  private jobId: string | undefined;
  private notify: Notify | undefined;

  /**
   * A tenant has webhook endpoints: poll this job to its end even with no subscriber, then
   * enqueue its outcome in its owner's outbox. Survives eviction (storage and an alarm).
   */
  async watch(jobId: string, self: string): Promise<void> {
    this.jobId = jobId;
    this.notify = { jobId, self, since: Date.now() };
    await this.ctx.storage.put("notify", this.notify);
    // A job already seen finished is asked once more, so that its outcome is enqueued.
    this.finished = false;
    const config = readConfig(this.env);
    if (this.subscribers.size === 0 && config.ok) {
      this.intervalMs = Math.max(MIN_POLL_INTERVAL_MS, config.config.pendingCacheTtlMs);
    }
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + this.intervalMs);
    }
  }

  private async notified(): Promise<Notify | undefined> {
    this.notify ??= await this.ctx.storage.get<Notify>("notify");
    if (this.notify && Date.now() - this.notify.since > NOTIFY_FOR_MS) await this.stopNotifying();
    return this.notify;
  }

  private async stopNotifying(): Promise<void> {
    this.notify = undefined;
    await this.ctx.storage.delete("notify");
  }

  /** The job, from the last answer while younger than `maxAgeMs`, else from Waveline. */
  async read(jobId: string, maxAgeMs: number): Promise<WatchedJob> {
    this.jobId = jobId;
    if (this.last && Date.now() - this.last.fetchedAt < maxAgeMs) {
      return { ok: true, entry: this.last };
    }
    // A finished job was put in KV: read there rather than kept here or asked of Waveline again.
    const kept = this.finished
      ? await kvTier(this.env.JOB_CACHE, watcherLog(jobId))
          .get(jobId)
          .catch(() => null)
      : null;
    if (kept) return { ok: true, entry: kept };
    // A poll under way answers this reader too: only the reader that started it made the call.
    const joining = this.polling !== undefined;
    const answer = await this.poll();
    return { ...answer, polled: !joining };
  }

  /** `GET …/events`: a stream of this job for one subscriber. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.jobId = url.searchParams.get("job") ?? this.jobId;
    const self = url.searchParams.get("self") ?? "";
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const subscriber: Subscriber = {
      writer: writable.getWriter(),
      self,
      lastSent: undefined,
      ends: setTimeout(() => this.unsubscribe(subscriber), STREAM_LIFETIME_MS),
    };
    this.subscribers.add(subscriber);
    // A client that hangs up cancels the stream: it stops counting as a listener at once.
    subscriber.writer.closed.catch(() => this.unsubscribe(subscriber));
    this.keepAlive ??= setInterval(() => this.broadcast(": keep-alive\n\n"), KEEP_ALIVE_MS);
    void this.write(subscriber, `retry: ${RECONNECT_HINT_MS}\n\n`);
    const config = readConfig(this.env);
    const maxAgeMs = config.ok ? config.config.pendingCacheTtlMs : 0;
    if (this.subscribers.size === 1) this.intervalMs = Math.max(MIN_POLL_INTERVAL_MS, maxAgeMs);
    void this.read(this.jobId ?? "", maxAgeMs).then((answer) => {
      if (answer.ok) this.send(subscriber, answer.entry);
      void this.scheduleNextPoll();
    });
    return new Response(readable, { headers: { "Content-Type": "text/event-stream" } });
  }

  override async alarm(): Promise<void> {
    // A write is what tells a stream whose client hung up: ask before paying for a poll.
    await Promise.all([...this.subscribers].map((s) => this.write(s, ": poll\n\n")));
    const notify = await this.notified();
    if (this.subscribers.size === 0 && !notify) return;
    this.jobId ??= notify?.jobId;
    await this.poll();
    await this.scheduleNextPoll();
  }

  /** One upstream call at a time, shared by every reader and the alarm. */
  private poll(): Promise<WatchedJob> {
    this.polling ??= this.askUpstream().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async askUpstream(): Promise<WatchedJob> {
    const jobId = this.jobId;
    const config = readConfig(this.env);
    if (!config.ok || !config.config.wavelineApiKey || jobId === undefined) {
      return { ok: false, failure: "unavailable", error: "proxy is not configured" };
    }
    const { wavelineApiUrl, wavelineApiKey, upstreamTimeoutMs, maxUpstreamBodyBytes } =
      config.config;
    const client = createWavelineClient({
      baseUrl: wavelineApiUrl,
      apiKey: wavelineApiKey,
      timeoutMs: upstreamTimeoutMs,
      maxBodyBytes: maxUpstreamBodyBytes,
    });
    try {
      const job = await client.getJob(jobId, watcherLog(jobId));
      const entry = await toCachedJob(job);
      this.failingSince = undefined;
      const changed =
        !this.last || this.last.status !== entry.status || this.last.pages !== entry.pages;
      this.finished = isTerminal(entry);
      this.last = this.finished ? undefined : entry;
      if (this.finished) await this.finish(entry, config.config.terminalCacheTtlS, job);
      if (changed) {
        // A change resets the pace, not the age: a long job stays long.
        this.intervalMs = Math.max(MIN_POLL_INTERVAL_MS, config.config.pendingCacheTtlMs);
        for (const subscriber of this.subscribers) this.send(subscriber, entry);
      } else if (Date.now() - this.watchingSince > LONG_JOB_MS) {
        this.intervalMs = Math.min(MAX_POLL_INTERVAL_MS, Math.ceil(this.intervalMs * 1.5));
      }
      return { ok: true, entry };
    } catch (err) {
      this.failingSince ??= Date.now();
      const failure: WatchedJob =
        err instanceof UpstreamError
          ? {
              ok: false,
              failure: err.failure,
              error: err.message,
              retryAfterS: err.options.retryAfterS,
            }
          : { ok: false, failure: "bad-answer", error: "upstream error" };
      // A job nobody reads but whose tenant waits for a webhook: slow down while upstream fails.
      if (this.notify) {
        this.intervalMs = Math.min(MAX_POLL_INTERVAL_MS, Math.ceil(this.intervalMs * 1.5));
        // Waveline made the job, so a 404 may be a moment's inconsistency: only a lasting one ends it.
        const lasting = Date.now() - this.failingSince > GIVE_UP_AFTER_MS;
        if (!failure.ok && failure.failure === "not-found" && lasting) await this.stopNotifying();
      }
      if (!failure.ok && failure.retryAfterS) {
        this.intervalMs = Math.max(this.intervalMs, failure.retryAfterS * 1000);
      }
      if (Date.now() - this.failingSince > GIVE_UP_AFTER_MS) {
        const code = failureCode(failure.failure);
        this.broadcast(`event: error\ndata: ${JSON.stringify({ error: failure.error, code })}\n\n`);
        this.closeAll();
      }
      return failure;
    }
  }

  /** A terminal job never changes: KV keeps it and D1 learns it before any subscriber does. */
  private async finish(entry: CachedJob, terminalTtlS: number, job: Job): Promise<void> {
    const log = watcherLog(entry.id);
    const notify = await this.notified();
    await Promise.all([
      kvTier(this.env.JOB_CACHE, log)
        .put(entry, terminalTtlS * 1000)
        .catch((err: unknown) => log.warn("terminal job not kept in KV", { error: String(err) })),
      withTimeout(
        d1JobStore(this.env.DB, undefined, {
          alerts: budgetAlertsToOutboxes(this.env),
        }).recordProgress(entry.id, entry.status, entry.pages),
        STORAGE_TIMEOUT_MS,
      ).then(
        (billed) => recordFromObject(this.env.TENANT_METRICS, billedTallies(billed), log),
        (err: unknown) => log.warn("job progress not recorded", { error: String(err) }),
      ),
    ]);
    const event = eventOfStatus(entry.status);
    if (notify && event) {
      try {
        // Its owner now: an operator may have given the job to another tenant since it was created.
        const owner = await withTimeout(
          d1JobStore(this.env.DB).ownerOf(entry.id),
          STORAGE_TIMEOUT_MS,
        );
        if (owner) {
          const payload = webhookBody(event, job, notify.self, new Date());
          await outboxOf(this.env.WEBHOOK_OUTBOX, owner.tenantId).enqueue(
            owner.tenantId,
            event,
            entry.id,
            payload,
          );
        } else {
          log.warn("finished job has no owner: no webhook", { jobId: entry.id });
        }
      } catch (err) {
        // Kept: the alarm asks Waveline again (a finished job answers the same) and retries.
        log.error("webhook event not enqueued: retrying", { error: String(err) });
        await this.ctx.storage.setAlarm(Date.now() + NOTIFY_RETRY_MS);
        return;
      }
    }
    this.notify = undefined;
    await this.ctx.storage.deleteAll();
  }

  private async scheduleNextPoll(): Promise<void> {
    if ((this.subscribers.size === 0 && !this.notify) || this.finished) {
      return;
    }
    await this.ctx.storage.setAlarm(Date.now() + this.intervalMs);
  }

  /** The job to one subscriber, unless it has seen this status and page count already. */
  private send(subscriber: Subscriber, entry: CachedJob): void {
    const seen = `${entry.status}.${entry.pages}`;
    if (subscriber.lastSent === seen) return;
    subscriber.lastSent = seen;
    void this.write(subscriber, jobEvent(entry, subscriber.self)).then(() => {
      if (isTerminal(entry)) this.unsubscribe(subscriber);
    });
  }

  private broadcast(text: string): void {
    for (const subscriber of this.subscribers) void this.write(subscriber, text);
  }

  private async write(subscriber: Subscriber, text: string): Promise<void> {
    await subscriber.writer.write(encoder.encode(text)).catch(() => this.unsubscribe(subscriber));
  }

  private unsubscribe(subscriber: Subscriber): void {
    if (!this.subscribers.delete(subscriber)) return;
    clearTimeout(subscriber.ends);
    subscriber.writer.close().catch(() => {});
    if (this.subscribers.size === 0 && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private closeAll(): void {
    for (const subscriber of [...this.subscribers]) this.unsubscribe(subscriber);
  }
}

function failureCode(failure: UpstreamFailure | "unavailable"): ErrorCode {
  return failure === "unavailable" ? "not_configured" : UPSTREAM_CODES[failure];
}

function watcherLog(jobId: string): Logger {
  return isolateLog({ watcher: jobId });
}

/** The watchers as the core sees them: one object per job id. */
export function durableJobWatchers(namespace: DurableObjectNamespace<JobWatcher>): JobWatchers {
  const of = (jobId: string) => namespace.get(namespace.idFromName(jobId));
  return {
    read: (jobId, maxAgeMs) => of(jobId).read(jobId, maxAgeMs) as Promise<WatchedJob>,
    async subscribe(jobId, self) {
      const target = new URL("https://job-watcher/events");
      target.searchParams.set("job", jobId);
      target.searchParams.set("self", self);
      const stream = await of(jobId).fetch(target);
      if (!stream.body) throw new Error("the watcher sent no stream");
      return stream.body;
    },
  };
}
