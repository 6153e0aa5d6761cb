import { type Context, Hono } from "hono";
import * as z from "zod/mini";
import { isTerminal } from "../../core/cache/entry";
import { describeError } from "../../core/errors";
import { readJobFor } from "../../core/jobs/read";
import { endUserShare } from "../../core/ratelimit/share";
import type { Services } from "../../core/services";
import type { OwnedJob } from "../../core/tenancy/store";
import { jobEvent, STREAM_LIFETIME_MS } from "../../core/watching/events";
import { whileCredentialHolds } from "../../core/watching/while-credential-holds";
import { jobIdSchema } from "../../waveline/schema";
import type { AppEnv } from "../context";
import { errorResponse, fail } from "../errors";
import { describeRoute, JOB_READ_ANSWERS, UPSTREAM_ERRORS } from "../openapi/describe";
import { jobPage } from "../openapi/responses";
import { limiterUnavailable, limitReads } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { validate } from "../validate";
import { withWaveline } from "../waveline";
import { jobAnswers, proxyJobUrl, xCacheOf } from "./job-view";

export const EVENT_STREAM_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-store",
  "X-Accel-Buffering": "no",
};

/** Every skipped job is a row the database reads: a page never skips more than this. */
const MAX_OFFSET = 10_000;
const MAX_COUNT = 100;
/** `total` counts at most this many jobs, so no page costs a count of the whole tenant. */
export const MAX_LISTED_TOTAL = MAX_OFFSET + MAX_COUNT;

const pageSchema = z.object({
  count: z._default(
    z.coerce
      .number()
      .check(
        z.int(),
        z.minimum(1, { error: `must be 1 to ${MAX_COUNT}` }),
        z.maximum(MAX_COUNT, { error: `must be 1 to ${MAX_COUNT}` }),
        z.describe("jobs per page"),
      ),
    10,
  ),
  offset: z._default(
    z.coerce
      .number()
      .check(
        z.int(),
        z.minimum(0, { error: `must be 0 to ${MAX_OFFSET}` }),
        z.maximum(MAX_OFFSET, { error: `must be 0 to ${MAX_OFFSET}` }),
        z.describe(`jobs to skip, at most ${MAX_OFFSET}`),
      ),
    0,
  ),
});

/** The tenant's view of Waveline's jobs: its own and no one else's. */
export function jobRoutes(services: Services) {
  const jobs = new Hono<AppEnv>();
  const { serveJob } = jobAnswers(services);

  jobs.get(
    "/jobs/:id/events",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "watchJob",
        summary: "Follow one of your jobs as Server-Sent Events",
        description:
          '`event: job` with the job as `GET /jobs/{id}` answers it: at once, then on every change of status or pages, until it is `COMPLETED` or `FAILED`; a comment every 15 s; at most 5 minutes a stream (then reconnect, with `Last-Event-ID`). A reconnect whose `Last-Event-ID` names a finished job (`COMPLETED.…`, `FAILED.…`) answers 204, which stops `EventSource`. The credential is checked again every second: once it has expired or was revoked, or the tenant is disabled, the stream ends with `event: error` and `{ "error", "code" }`; so it does after a minute of Waveline failing (`upstream_error`, `upstream_unavailable`, `upstream_timeout`…). For `EventSource`, which cannot send headers, a browser token may come as `?access_token=` (never an API key).',
        tag: "jobs",
        auth: "jobs:read",
        responses: {
          200: {
            description: "`text/event-stream` of the job",
            mediaType: "text/event-stream",
            headers: ["Cache-Control"],
          },
          204: {
            description:
              "`Last-Event-ID` names the job's terminal event: the client has seen the end, nothing more will come (`EventSource` stops on a 204)",
          },
        },
        errors: {
          api_key_in_url: "an API key was sent as `access_token`",
          job_not_found: "no such job, or not the caller's (before any stream starts)",
          too_many_streams:
            "the tenant has `STREAMS_PER_TENANT` streams open already, or the end user their share of them (`rateLimits.endUserStreams`)",
          rate_limiter_unavailable: "the rate limiter or the open streams cannot be counted",
          live_updates_unavailable: "live updates are unavailable: poll `GET /jobs/{id}` instead",
          ...UPSTREAM_ERRORS,
        },
      },
    ),
    authenticate(services, { scope: "jobs:read", tokenInQuery: true, jobParam: "id" }),
    limitReads(services),
    validate("param", z.object({ id: jobIdSchema })),
    withWaveline(services),
    async (c) => {
      const { id } = c.req.valid("param");
      const { principal, scope } = c.var;
      const read = await readJobFor(services, principal, id, scope, {
        lastEventId: c.req.header("Last-Event-ID"),
      });
      // The client has the job's last event: a 204 is what makes `EventSource` stop reconnecting.
      if ("seenEnd" in read) return c.body(null, 204);
      const { entry, source } = read;
      const self = proxyJobUrl(c, id);
      c.var.log.annotate({ cache: xCacheOf(source) });
      // Nothing more will happen to a finished job: one event, and the stream ends.
      if (isTerminal(entry)) return c.body(jobEvent(entry, self), 200, EVENT_STREAM_HEADERS);

      const { streamLeases, watchers } = services;
      const tenantId = principal.tenant.id;
      const limit = services.config.streamsPerTenant;
      const share = endUserShare(principal, limit, principal.tenant.rateLimits.endUserStreams);
      let lease: string | null;
      try {
        lease = await streamLeases.open(tenantId, limit, STREAM_LIFETIME_MS + 60_000, share);
      } catch (err) {
        c.var.log.error("stream leases unavailable: stream refused", { error: describeError(err) });
        limiterUnavailable();
      }
      if (lease === null) {
        const most = share
          ? `at most ${share.limit} per end user, ${limit} per tenant`
          : `at most ${limit} per tenant`;
        fail("too_many_streams", `too many open streams: ${most}`, { "Retry-After": "10" });
      }
      const release = () => streamLeases.close(tenantId, lease).catch(() => {});
      let stream: ReadableStream<Uint8Array>;
      try {
        if (!watchers) throw new Error("no job watchers on this runtime");
        stream = await watchers.subscribe(id, self);
      } catch (err) {
        await release();
        c.var.log.warn("job watcher unavailable: no stream", { error: describeError(err) });
        fail("live_updates_unavailable", "live updates are unavailable: poll GET /jobs/{id}", {
          "Retry-After": "5",
        });
      }
      // No longer than its credential: expired, revoked or disabled ends it as it would a request.
      const { readable, done } = whileCredentialHolds(stream, c.var.credentialLapse);
      scope.waitUntil(done.finally(release));
      scope.count?.("streamsOpened");
      return c.body(readable, 200, EVENT_STREAM_HEADERS);
    },
  );

  jobs.get(
    "/jobs/:id",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getJob",
        summary: "Read one of your jobs",
        description:
          "The job as Waveline sent it, with `urls.get` pointing at the proxy. Finished jobs come from the edge cache; a job that is not the caller's answers exactly like one that does not exist.",
        tag: "jobs",
        auth: "jobs:read",
        requestHeaders: ["If-None-Match"],
        responses: JOB_READ_ANSWERS,
        errors: {
          invalid_request:
            "the id is not 1 to 128 characters, is `.` or `..`, or holds a control character, `/` or a backslash (no upstream call)",
          job_not_found: "no such job, or not the caller's: the two answer the same",
          ...UPSTREAM_ERRORS,
        },
      },
    ),
    // While storage is down, a caller this location knew recently still reads its finished jobs.
    authenticate(services, { scope: "jobs:read", jobParam: "id", allowStale: true }),
    limitReads(services),
    validate("param", z.object({ id: jobIdSchema })),
    withWaveline(services),
    async (c) => {
      const { id } = c.req.valid("param");
      return serveJob(c, c.var.principal, id);
    },
  );

  jobs.get(
    "/jobs",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "listJobs",
        summary: "List your jobs, newest first",
        description: `Only the caller's jobs (a token with \`sub\` sees that user's, a token with \`jobs\` those), in Waveline's list shape. Each page spends one read of the tenant's read limit; \`total\` counts at most ${MAX_LISTED_TOTAL} jobs.`,
        tag: "jobs",
        auth: "jobs:read",
        responses: { 200: { description: "a page of jobs, without results", body: jobPage } },
        errors: {
          invalid_request: `\`count\` is not 1 to ${MAX_COUNT}, or \`offset\` is not 0 to ${MAX_OFFSET}`,
        },
      },
    ),
    authenticate(services, { scope: "jobs:read" }),
    limitReads(services),
    validate("query", pageSchema),
    async (c) => {
      const { count, offset } = c.req.valid("query");
      const { tenant, subject, jobIds } = c.var.principal;
      const { items, total } = await services.jobs.list(
        { tenantId: tenant.id, subject, jobIds: jobIds && [...jobIds] },
        { count, offset, countUpTo: MAX_LISTED_TOTAL },
      );
      // Waveline's own list shape, built from the job store: its account-wide list is not exposed.
      return c.json({ items: items.map((job) => listItem(c, job)), offset, count, total });
    },
  );

  // Registered last, so that it answers only what no route above did: a path with more segments
  // under /jobs/ names an id with a slash, and gets the same 400 as any id the validator refuses.
  // A plain wildcard, not a `/jobs/:id{.+}` pattern: that one would make Hono fall back from its
  // RegExpRouter to the slower TrieRouter for every request.
  jobs.all(
    "/jobs/*",
    (c, next) =>
      c.req.method === "GET" || c.req.method === "HEAD"
        ? next()
        : errorResponse(c, "method_not_allowed", "method not allowed", { Allow: "GET, HEAD" }),
    authenticate(services, { scope: "jobs:read" }),
    limitReads(services),
    (c) => {
      const path = c.req.path;
      const id = decodedOrRaw(path.slice(path.indexOf("/jobs/") + "/jobs/".length));
      if (id === "") return c.notFound();
      const checked = jobIdSchema.safeParse(id);
      return fail("invalid_request", `id ${checked.error?.issues[0]?.message ?? "is not valid"}`);
    },
  );

  return jobs;
}

/** A malformed percent-escape stays as it is: the id check then refuses it like any other. */
function decodedOrRaw(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function listItem(c: Context, job: OwnedJob) {
  return {
    id: job.id,
    createdAt: job.createdAt,
    status: job.status,
    type: job.type,
    pages: job.pages,
    fileName: job.fileName,
    urls: { get: proxyJobUrl(c, job.id) },
  };
}
