import type { WavelineClient } from "../../waveline/client";
import type { Job } from "../../waveline/schema";
import { type CachedJob, isTerminal, toCachedJob } from "../cache/entry";
import type { CacheTier } from "../cache/tiers";
import { type ErrorCode, UPSTREAM_CODES, UpstreamError, type UpstreamFailure } from "../errors";
import type { Logger } from "../log";
import { billedTallies } from "../metrics/tally";
import type { Clock, ObjectStorage } from "../objects";
import type { JobStore } from "../tenancy/store";
import { eventOfStatus, type WebhookEvent, webhookBody } from "../webhooks/payload";
import { jobEvent, STREAM_LIFETIME_MS, type WatchedJob } from "./events";

const KEEP_ALIVE_MS = 15_000;
const RECONNECT_HINT_MS = 2_000;
/** Polls of a long job slow down to this. */
export const MAX_POLL_INTERVAL_MS = 10_000;
export const MIN_POLL_INTERVAL_MS = 500;
/** Jobs usually take tens of seconds: until a job has run this long, polls keep their pace. */
export const LONG_JOB_MS = 60_000;
/** Upstream trouble this long ends the streams with `event: error`. */
const GIVE_UP_AFTER_MS = 60_000;
/** A job watched for webhooks that has not ended after this is given up (it outlived Waveline's). */
const NOTIFY_FOR_MS = 3 * 24 * 60 * 60_000;
/** An outbox that could not take a finished job's event is asked again after this. */
export const NOTIFY_RETRY_MS = 5_000;

/** What a job's watcher needs besides its storage, given by the composition root. */
export interface WatcherServices {
  /** Undefined when the proxy is not configured: every poll then answers "unavailable". */
  waveline: Pick<WavelineClient, "getJob"> | undefined;
  /** How long an answer is fresh, and the usual pace of polls (0 when not configured). */
  pendingCacheTtlMs: number;
  terminalCacheTtlMs: number;
  /** Where a finished job is kept (KV on Workers): read there rather than asked of Waveline. */
  finishedJobs: Pick<CacheTier, "get" | "put">;
  /** Bounded in time by the composition root; failures are logged, never answered. */
  jobs: Pick<JobStore, "recordProgress" | "ownerOf">;
  /** Pages billed, into the tenants' metrics. */
  recordTallies(counts: ReturnType<typeof billedTallies>): Promise<void>;
  /** A tenant's outbox, which takes a finished job's webhook event; undefined where none. */
  outbox:
    | ((tenantId: string) => {
        enqueue(
          tenantId: string,
          event: WebhookEvent,
          key: string,
          payload: string,
        ): Promise<unknown>;
      })
    | undefined;
  log(fields: Record<string, unknown>): Logger;
}

export interface WatcherPorts {
  storage: ObjectStorage;
  services: WatcherServices;
  now?: Clock;
}

/**
 * Kept in storage: a job whose outcome a tenant wants as a webhook, watched with no reader. Which
 * tenant is asked of the job store when the job ends: its owner then, not the one that asked.
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

export type JobWatcher = ReturnType<typeof jobWatcher>;

/**
 * One per running job (named by job id): the single place that asks Waveline about that job
 * while it runs, wherever its readers are. Readers share its last answer while it is fresh;
 * subscribers get a Server-Sent Events stream that it feeds from its own polling (its alarm),
 * which stops once nobody listens. A terminal answer goes to the finished-jobs tier and the job
 * store, then the watcher is done and keeps nothing.
 */
export function jobWatcher({ storage, services, now = () => Date.now() }: WatcherPorts) {
  /** The last answer while the job runs; a finished job is in `finishedJobs`, not here (MiBs). */
  let last: CachedJob | undefined;
  let finished = false;
  let polling: Promise<WatchedJob> | undefined;
  const subscribers = new Set<Subscriber>();
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let intervalMs = MIN_POLL_INTERVAL_MS;
  /** When this watcher first saw the job, to tell a long job from a usual one. */
  const watchingSince = now();
  let failingSince: number | undefined;
  let jobId: string | undefined;
  let notify: Notify | undefined;
  const usualPace = () => Math.max(MIN_POLL_INTERVAL_MS, services.pendingCacheTtlMs);
  const slower = () => Math.min(MAX_POLL_INTERVAL_MS, Math.ceil(intervalMs * 1.5));
  const logOf = (id: string) => services.log({ watcher: id });

  const notified = async () => {
    notify ??= await storage.get<Notify>("notify");
    if (notify && now() - notify.since > NOTIFY_FOR_MS) await stopNotifying();
    return notify;
  };

  const stopNotifying = async () => {
    notify = undefined;
    await storage.delete(["notify"]);
  };

  /** One upstream call at a time, shared by every reader and the alarm. */
  const poll = () => {
    polling ??= askUpstream().finally(() => {
      polling = undefined;
    });
    return polling;
  };

  const askUpstream = async (): Promise<WatchedJob> => {
    const id = jobId;
    const { waveline } = services;
    if (!waveline || id === undefined) {
      return { ok: false, failure: "unavailable", error: "proxy is not configured" };
    }
    try {
      const job = await waveline.getJob(id, logOf(id));
      const entry = await toCachedJob(job, now());
      failingSince = undefined;
      const changed = !last || last.status !== entry.status || last.pages !== entry.pages;
      finished = isTerminal(entry);
      last = finished ? undefined : entry;
      if (finished) await finish(entry, job);
      if (changed) {
        // A change resets the pace, not the age: a long job stays long.
        intervalMs = usualPace();
        for (const subscriber of subscribers) send(subscriber, entry);
      } else if (now() - watchingSince > LONG_JOB_MS) {
        intervalMs = slower();
      }
      return { ok: true, entry };
    } catch (err) {
      failingSince ??= now();
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
      if (notify) {
        intervalMs = slower();
        // Waveline made the job, so a 404 may be a moment's inconsistency: only a lasting one ends it.
        const lasting = now() - failingSince > GIVE_UP_AFTER_MS;
        if (!failure.ok && failure.failure === "not-found" && lasting) await stopNotifying();
      }
      if (!failure.ok && failure.retryAfterS) {
        intervalMs = Math.max(intervalMs, failure.retryAfterS * 1000);
      }
      if (now() - failingSince > GIVE_UP_AFTER_MS) {
        const code = failureCode(failure.failure);
        broadcast(`event: error\ndata: ${JSON.stringify({ error: failure.error, code })}\n\n`);
        closeAll();
      }
      return failure;
    }
  };

  /** A terminal job never changes: it is kept and the job store learns it before any subscriber. */
  const finish = async (entry: CachedJob, job: Job) => {
    const log = logOf(entry.id);
    const wanted = await notified();
    await Promise.all([
      services.finishedJobs
        .put(entry, services.terminalCacheTtlMs)
        .catch((err: unknown) => log.warn("terminal job not kept in KV", { error: String(err) })),
      services.jobs.recordProgress(entry.id, entry.status, entry.pages).then(
        (billed) => services.recordTallies(billedTallies(billed)),
        (err: unknown) => log.warn("job progress not recorded", { error: String(err) }),
      ),
    ]);
    const event = eventOfStatus(entry.status);
    if (wanted && event) {
      try {
        // Its owner now: an operator may have given the job to another tenant since it was created.
        const owner = await services.jobs.ownerOf(entry.id);
        if (owner) {
          if (!services.outbox) throw new Error("no webhook outboxes here");
          const payload = webhookBody(event, job, wanted.self, new Date(now()));
          await services.outbox(owner.tenantId).enqueue(owner.tenantId, event, entry.id, payload);
        } else {
          log.warn("finished job has no owner: no webhook", { jobId: entry.id });
        }
      } catch (err) {
        // Kept: the alarm asks Waveline again (a finished job answers the same) and retries.
        log.error("webhook event not enqueued: retrying", { error: String(err) });
        await storage.setAlarm(now() + NOTIFY_RETRY_MS);
        return;
      }
    }
    notify = undefined;
    await storage.deleteAll();
  };

  const scheduleNextPoll = async () => {
    if ((subscribers.size === 0 && !notify) || finished) return;
    await storage.setAlarm(now() + intervalMs);
  };

  /** The job to one subscriber, unless it has seen this status and page count already. */
  const send = (subscriber: Subscriber, entry: CachedJob) => {
    const seen = `${entry.status}.${entry.pages}`;
    if (subscriber.lastSent === seen) return;
    subscriber.lastSent = seen;
    void write(subscriber, jobEvent(entry, subscriber.self)).then(() => {
      if (isTerminal(entry)) unsubscribe(subscriber);
    });
  };

  const broadcast = (text: string) => {
    for (const subscriber of subscribers) void write(subscriber, text);
  };

  const write = async (subscriber: Subscriber, text: string) => {
    await subscriber.writer.write(encoder.encode(text)).catch(() => unsubscribe(subscriber));
  };

  const unsubscribe = (subscriber: Subscriber) => {
    if (!subscribers.delete(subscriber)) return;
    clearTimeout(subscriber.ends);
    subscriber.writer.close().catch(() => {});
    if (subscribers.size === 0 && keepAlive !== undefined) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };

  const closeAll = () => {
    for (const subscriber of [...subscribers]) unsubscribe(subscriber);
  };

  /** The job, from the last answer while younger than `maxAgeMs`, else from Waveline. */
  const read = async (id: string, maxAgeMs: number): Promise<WatchedJob> => {
    jobId = id;
    if (last && now() - last.fetchedAt < maxAgeMs) return { ok: true, entry: last };
    // A finished job was kept: read there rather than kept here or asked of Waveline again.
    const kept = finished ? await services.finishedJobs.get(id).catch(() => null) : null;
    if (kept) return { ok: true, entry: kept };
    // A poll under way answers this reader too: only the reader that started it made the call.
    const joining = polling !== undefined;
    const answer = await poll();
    return { ...answer, polled: !joining };
  };

  return {
    read,

    /**
     * A tenant has webhook endpoints: poll this job to its end even with no subscriber, then
     * enqueue its outcome in its owner's outbox. Survives eviction (storage and the alarm).
     */
    async watch(id: string, self: string): Promise<void> {
      jobId = id;
      notify = { jobId: id, self, since: now() };
      await storage.put({ notify });
      // A job already seen finished is asked once more, so that its outcome is enqueued.
      finished = false;
      if (subscribers.size === 0) intervalMs = usualPace();
      if ((await storage.getAlarm()) === null) await storage.setAlarm(now() + intervalMs);
    },

    /** A Server-Sent Events stream of the job for one subscriber; `self` is its URL on the proxy. */
    subscribe(id: string | undefined, self: string): ReadableStream<Uint8Array> {
      jobId = id ?? jobId;
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const subscriber: Subscriber = {
        writer: writable.getWriter(),
        self,
        lastSent: undefined,
        ends: setTimeout(() => unsubscribe(subscriber), STREAM_LIFETIME_MS),
      };
      subscribers.add(subscriber);
      // A client that hangs up cancels the stream: it stops counting as a listener at once.
      subscriber.writer.closed.catch(() => unsubscribe(subscriber));
      keepAlive ??= setInterval(() => broadcast(": keep-alive\n\n"), KEEP_ALIVE_MS);
      void write(subscriber, `retry: ${RECONNECT_HINT_MS}\n\n`);
      if (subscribers.size === 1) intervalMs = usualPace();
      void read(jobId ?? "", services.pendingCacheTtlMs).then((answer) => {
        if (answer.ok) send(subscriber, answer.entry);
        void scheduleNextPoll();
      });
      return readable;
    },

    async alarm(): Promise<void> {
      // A write is what tells a stream whose client hung up: ask before paying for a poll.
      await Promise.all([...subscribers].map((s) => write(s, ": poll\n\n")));
      const wanted = await notified();
      if (subscribers.size === 0 && !wanted) return;
      jobId ??= wanted?.jobId;
      await poll();
      await scheduleNextPoll();
    },
  };
}

function failureCode(failure: UpstreamFailure | "unavailable"): ErrorCode {
  return failure === "unavailable" ? "not_configured" : UPSTREAM_CODES[failure];
}
