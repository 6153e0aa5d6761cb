/**
 * The job watcher's figures, on the proxy pair (two Workers of one Miniflare instance sharing the
 * Durable Objects, D1 and KV, as two Cloudflare locations do): upstream calls for one running job
 * with many clients polling it through both Workers, or subscribed to its events stream; and how
 * long a client takes to see a job finish, polling as the typed client does or reading the stream.
 */
import { DEV_API_KEY } from "../../dev/seed";
import { createOwnedJobs, raiseReadLimit, upstreamCallsSince } from "./fixtures";
import { type LoadRun, runLoad } from "./load";
import type { Context } from "./measure";
import type { FakeProcess } from "./processes";
import { ADMIN_TOKEN, type PairProcess } from "./stack";

const API_KEY_HEADERS = { Authorization: `Bearer ${DEV_API_KEY}` };
const TERMINAL = new Set(["COMPLETED", "FAILED"]);
/** The typed client's spread of polls after a Retry-After (client/index.ts RETRY_AFTER_JITTER_MS). */
const RETRY_AFTER_JITTER_MS = 250;
/** A client that has not seen the job finish this long after it did has failed. */
const SEE_FINISH_TIMEOUT_MS = 30_000;
/** More polls than this for one sample means something loops. */
const MAX_POLLS = 200;

/** What these figures run on: the proxy pair and the fake it calls. */
export interface WatchedStack {
  fake: FakeProcess;
  pair: PairProcess;
}

export interface WatchingOptions {
  /** Clients polling one running job, split evenly between the two Workers. */
  sharedPollers: number[];
  /** Subscribers of one running job's events stream, split between the two Workers. */
  subscribers: number;
  /** Seconds each poller count and the subscribers run. */
  windowS: number;
  /** Jobs finished per kind of client. */
  completionSamples: number;
  /** Sample i's job finishes this long after its clients start watching, spread evenly. */
  completionRunS: { min: number; max: number };
}

export interface WatchingJobs {
  pollIds: string[];
  subscribeId: string;
  /** One job per sample and kind of client: no two clients share a watcher. */
  pollingIds: string[];
  streamIds: string[];
}

/** The demo tenant's read limit raised on the pair, and its running jobs, owned by the tenant. */
export async function prepareWatching(
  stack: WatchedStack,
  options: WatchingOptions,
): Promise<WatchingJobs> {
  await raiseReadLimit(stack.pair.url, ADMIN_TOKEN);
  const owners = [{ proxyUrl: stack.pair.url, adminToken: ADMIN_TOKEN }];
  const tag = `watch-${crypto.randomUUID().slice(0, 8)}`;
  const running = (idPrefix: string, count: number) =>
    createOwnedJobs(stack.fake.origin, owners, { idPrefix, status: "RUNNING" }, count);
  const [pollIds, [subscribeId], pollingIds, streamIds] = await Promise.all([
    running(`${tag}-shared-`, options.sharedPollers.length),
    running(`${tag}-subscribed-`, 1),
    running(`${tag}-polling-`, options.completionSamples),
    running(`${tag}-stream-`, options.completionSamples),
  ]);
  if (!subscribeId) throw new Error("no job for the subscribers");
  return { pollIds, subscribeId, pollingIds, streamIds };
}

export interface SharedPollerRun {
  clients: number;
  /** Clients on the first Worker and on the second. */
  split: [number, number];
  runs: LoadRun[];
  upstreamCalls: number;
}

/** `clients` pollers of one running job, as fast as they get answers, half on each Worker. */
export async function measureSharedPollers(
  ctx: Context,
  stack: WatchedStack,
  jobId: string,
  clients: number,
  windowS: number,
): Promise<SharedPollerRun> {
  const split: [number, number] = [Math.ceil(clients / 2), Math.floor(clients / 2)];
  const origins = [stack.pair.url, stack.pair.twinUrl];
  const since = Date.now();
  const runs = await Promise.all(
    split.flatMap((connections, index) =>
      connections > 0
        ? [
            runLoad({
              origin: origins[index] ?? "",
              paths: [`/jobs/${jobId}`],
              headers: API_KEY_HEADERS,
              connections,
              durationS: windowS,
              timeoutS: ctx.timeoutS,
            }),
          ]
        : [],
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, ctx.settleMs));
  const upstreamCalls = await upstreamCallsSince(ctx.fakeOrigin, since, [jobId]);
  return { clients, split, runs, upstreamCalls };
}

export interface SubscriberRun {
  clients: number;
  windowS: number;
  /** Streams answered 200. */
  opened: number;
  /** Streams that got at least one `event: job`. */
  withEvents: number;
  events: number;
  /** Statuses other than 200, and errors before the window ended. */
  failures: string[];
  upstreamCalls: number;
}

/** `clients` subscribers of one running job's events stream for the window, half on each Worker. */
export async function measureSubscribers(
  ctx: Context,
  stack: WatchedStack,
  jobId: string,
  clients: number,
  windowS: number,
): Promise<SubscriberRun> {
  const origins = [stack.pair.url, stack.pair.twinUrl];
  const windowEnds = new AbortController();
  const since = Date.now();
  const timer = setTimeout(() => windowEnds.abort(), windowS * 1000);
  const failures: string[] = [];
  const streams = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      let events = 0;
      let status = 0;
      try {
        const response = await fetch(`${origins[i % 2]}/jobs/${jobId}/events`, {
          headers: API_KEY_HEADERS,
          signal: windowEnds.signal,
        });
        status = response.status;
        if (!response.ok || !response.body) {
          failures.push(`${status} ${await response.text()}`);
          return { status, events };
        }
        for await (const event of serverSentEvents(response.body)) {
          if (event.event === "job") events++;
        }
        if (!windowEnds.signal.aborted) failures.push("the stream ended within the window");
      } catch (err) {
        if (!windowEnds.signal.aborted) failures.push(String(err));
      }
      return { status, events };
    }),
  );
  clearTimeout(timer);
  await new Promise((resolve) => setTimeout(resolve, ctx.settleMs));
  const upstreamCalls = await upstreamCallsSince(ctx.fakeOrigin, since, [jobId]);
  return {
    clients,
    windowS,
    opened: streams.filter((s) => s.status === 200).length,
    withEvents: streams.filter((s) => s.events > 0).length,
    events: streams.reduce((total, s) => total + s.events, 0),
    failures,
    upstreamCalls,
  };
}

export interface CompletionRun {
  /** How long each sample's job ran before the fake finished it. */
  runForMs: number[];
  /** From the fake finishing the job to the client seeing it; one per sample that saw it. */
  pollingMs: number[];
  streamMs: number[];
  failures: string[];
}

/**
 * For each sample, a polling client and a stream client start watching their own running job at
 * the same moment, on the same Worker (alternating between the two); both jobs are finished on
 * the fake at once, after the sample's run time. All samples run at the same time.
 */
export async function measureCompletion(
  stack: WatchedStack,
  jobs: WatchingJobs,
  options: WatchingOptions,
): Promise<CompletionRun> {
  const { min, max } = options.completionRunS;
  const samples = options.completionSamples;
  const runForMs = Array.from({ length: samples }, (_, i) =>
    Math.round((min + (samples > 1 ? ((max - min) * i) / (samples - 1) : 0)) * 1000),
  );
  const failures: string[] = [];
  const outcomes = await Promise.all(
    runForMs.map(async (runFor, i) => {
      const origin = i % 2 === 0 ? stack.pair.url : stack.pair.twinUrl;
      const pollingId = jobs.pollingIds[i] ?? "";
      const streamId = jobs.streamIds[i] ?? "";
      const signal = AbortSignal.timeout(runFor + SEE_FINISH_TIMEOUT_MS);
      const seen = Promise.allSettled([
        pollUntilTerminal(`${origin}/jobs/${pollingId}`, signal),
        streamUntilTerminal(`${origin}/jobs/${streamId}/events`, signal),
      ]);
      await new Promise((resolve) => setTimeout(resolve, runFor));
      const finished = await Promise.all([
        finishOnFake(stack.fake.origin, pollingId),
        finishOnFake(stack.fake.origin, streamId),
      ]);
      const [polling, stream] = await seen;
      const latency = (outcome: PromiseSettledResult<number>, at: number, kind: string) => {
        if (outcome.status === "fulfilled") return outcome.value - at;
        failures.push(`${kind} client, sample ${i + 1}: ${String(outcome.reason)}`);
        return undefined;
      };
      return {
        polling: latency(polling, finished[0], "polling"),
        stream: latency(stream, finished[1], "stream"),
      };
    }),
  );
  const defined = (values: (number | undefined)[]) =>
    values.filter((value): value is number => value !== undefined);
  return {
    runForMs,
    pollingMs: defined(outcomes.map((o) => o.polling)),
    streamMs: defined(outcomes.map((o) => o.stream)),
    failures,
  };
}

/** The job COMPLETED on the fake; when the fake had answered (performance.now()). */
async function finishOnFake(fakeOrigin: string, jobId: string): Promise<number> {
  const response = await fetch(`${fakeOrigin}/__control/jobs/${encodeURIComponent(jobId)}`, {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ status: "COMPLETED", resultBytes: 1024 }),
    signal: AbortSignal.timeout(SEE_FINISH_TIMEOUT_MS),
  });
  const at = performance.now();
  if (!response.ok) throw new Error(`finishing ${jobId}: ${response.status}`);
  await response.arrayBuffer();
  return at;
}

/**
 * Polls as client/index.ts `waitForJob` does: the next poll after the proxy's Retry-After plus up
 * to 250 ms of jitter. Resolves with the moment a terminal answer arrived.
 */
async function pollUntilTerminal(url: string, signal: AbortSignal): Promise<number> {
  for (let poll = 0; poll < MAX_POLLS; poll++) {
    const response = await fetch(url, { headers: API_KEY_HEADERS, signal });
    if (!response.ok) throw new Error(`poll ${poll + 1}: ${response.status}`);
    const job = (await response.json()) as { status?: string };
    if (TERMINAL.has(job.status ?? "")) return performance.now();
    const retryAfterS = Number(response.headers.get("Retry-After"));
    const delayMs =
      (Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS : 1) * 1000 +
      Math.random() * RETRY_AFTER_JITTER_MS;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  throw new Error(`no terminal answer in ${MAX_POLLS} polls`);
}

/** Reads the events stream until the terminal `event: job`; the moment it was parsed. */
async function streamUntilTerminal(url: string, signal: AbortSignal): Promise<number> {
  const response = await fetch(url, { headers: API_KEY_HEADERS, signal });
  if (!response.ok || !response.body) throw new Error(`stream: ${response.status}`);
  for await (const event of serverSentEvents(response.body)) {
    if (event.event !== "job") continue;
    const job = JSON.parse(event.data) as { status?: string };
    if (TERMINAL.has(job.status ?? "")) return performance.now();
  }
  throw new Error("the stream ended before the job finished");
}

interface ServerSentEvent {
  event: string;
  data: string;
}

/** The events of a text/event-stream body (comments and `id:`/`retry:` fields skipped). */
async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replaceAll("\r\n", "\n");
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}
