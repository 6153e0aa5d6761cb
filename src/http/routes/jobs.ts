import { type Context, Hono } from "hono";
import * as z from "zod/mini";
import { type CachedJob, isTerminal } from "../../core/cache/entry";
import type { HonoEnv } from "../../core/config";
import { mayReadJob } from "../../core/tenancy/access";
import type { OwnedJob } from "../../core/tenancy/store";
import { EVENT_STREAM_HEADERS, jobEvent, streamLeases } from "../../core/watching/events";
import { STREAM_LIFETIME_MS } from "../../platform/cloudflare/job-watcher";
import { jobIdSchema, jobSchema } from "../../waveline/schema";
import { withWaveline } from "../config";
import { describeError, fail } from "../errors";
import { withJobCache } from "../job-cache";
import {
  describeRoute,
  STORAGE_UNAVAILABLE,
  TENANT_AUTH_ERRORS,
  UPSTREAM_ERRORS,
} from "../openapi/describe";
import { jobPage } from "../openapi/responses";
import { rateLimit } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { validate } from "../validate";
import { lookupJob, proxyJobUrl, serveJob } from "./job-view";

/** The tenant's view of Waveline's jobs: its own and no one else's. */
export const jobs = new Hono<HonoEnv>();

/** The same answer for "no such job" and "not yours": ids must not reveal other tenants' jobs. */
const JOB_NOT_FOUND = "job not found";

jobs.get(
  "/jobs/:id/events",
  describeRoute({
    operationId: "watchJob",
    summary: "Follow one of your jobs as Server-Sent Events",
    description:
      "`event: job` with the job as `GET /jobs/{id}` answers it: at once, then on every change of status or pages, until it is `COMPLETED` or `FAILED`; a comment every 15 s; at most 5 minutes a stream (then reconnect, with `Last-Event-ID`). For `EventSource`, which cannot send headers, a browser token may come as `?access_token=` (never an API key).",
    tag: "jobs",
    auth: "jobs:read",
    responses: {
      200: {
        description: "`text/event-stream` of the job",
        mediaType: "text/event-stream",
        headers: ["Cache-Control"],
      },
    },
    errors: {
      400: "the id is not valid, or an API key was sent as `access_token`",
      ...TENANT_AUTH_ERRORS,
      404: "`job not found`: no such job, or not the caller's (before any stream starts)",
      429: `${TENANT_AUTH_ERRORS[429]}; or the tenant has \`STREAMS_PER_TENANT\` streams open already`,
      ...UPSTREAM_ERRORS,
      503: `${UPSTREAM_ERRORS[503]}; or live updates are unavailable (poll \`GET /jobs/{id}\` instead)`,
    },
  }),
  authenticate({ scope: "jobs:read", tokenInQuery: true }),
  rateLimit("reads"),
  validate("param", z.object({ id: jobIdSchema })),
  withWaveline(),
  withJobCache(),
  async (c) => {
    const { id } = c.req.valid("param");
    const owner = await callersJob(c, id);
    const self = proxyJobUrl(c, id);
    const { entry } = await lookupJob(c, id, {
      lastSeen: owner,
      onFetched: recordProgress(c, owner),
    });
    // Nothing more will happen to a finished job: one event, and the stream ends.
    if (isTerminal(entry)) return c.body(jobEvent(entry, self), 200, EVENT_STREAM_HEADERS);

    const { tenant } = c.get("principal");
    const leases = streamLeases(c.env.RATE_LIMITER, tenant.id);
    const limit = c.get("config").streamsPerTenant;
    const lease = await leases.open(limit, STREAM_LIFETIME_MS + 60_000).catch(() => undefined);
    if (lease === null) {
      fail(429, `too many open streams: at most ${limit} per tenant`, { "Retry-After": "10" });
    }
    const release = () => (lease ? leases.close(lease).catch(() => {}) : Promise.resolve());
    let stream: Response;
    try {
      const watchers = c.env.JOB_WATCHER;
      const target = new URL("https://job-watcher/events");
      target.searchParams.set("job", id);
      target.searchParams.set("self", self);
      stream = await watchers.get(watchers.idFromName(id)).fetch(target);
    } catch (err) {
      await release();
      c.get("log").warn("job watcher unavailable: no stream", { error: describeError(err) });
      fail(503, "live updates are unavailable: poll GET /jobs/{id}", { "Retry-After": "5" });
    }
    if (!stream.body) {
      await release();
      fail(503, "live updates are unavailable: poll GET /jobs/{id}", { "Retry-After": "5" });
    }
    const { readable, writable } = new TransformStream();
    c.executionCtx.waitUntil(
      stream.body
        .pipeTo(writable)
        .catch(() => {})
        .finally(release),
    );
    return c.body(readable, 200, EVENT_STREAM_HEADERS);
  },
);

jobs.get(
  // `{.+}` so that ids with slashes reach the validator and get a 400. Not `{.*}`: a pattern
  // that matches nothing would cost Hono's fast RegExpRouter (and `/jobs/` is simply a 404).
  "/jobs/:id{.+}",
  describeRoute({
    operationId: "getJob",
    summary: "Read one of your jobs",
    description:
      "The job as Waveline sent it, with `urls.get` pointing at the proxy. Finished jobs come from the edge cache; a job that is not the caller's answers exactly like one that does not exist.",
    tag: "jobs",
    auth: "jobs:read",
    requestHeaders: ["If-None-Match"],
    responses: {
      200: {
        description: "the job; `ETag` for terminal jobs, `Retry-After` for running ones",
        body: jobSchema,
        headers: ["X-Cache", "ETag", "Cache-Control", "Retry-After"],
      },
      304: {
        description: "the terminal job still matches `If-None-Match`",
        headers: ["X-Cache", "ETag", "Cache-Control"],
      },
    },
    errors: {
      400: "the id is not 1 to 128 characters, is `.` or `..`, or holds a control character, `/` or a backslash (no upstream call); or Waveline refused the request",
      ...TENANT_AUTH_ERRORS,
      404: "`job not found`: no such job, or not the caller's",
      ...UPSTREAM_ERRORS,
    },
  }),
  authenticate({ scope: "jobs:read" }),
  rateLimit("reads"),
  validate("param", z.object({ id: jobIdSchema })),
  withWaveline(),
  withJobCache(),
  async (c) => {
    const { id } = c.req.valid("param");
    const owner = await callersJob(c, id);
    return serveJob(c, id, { lastSeen: owner, onFetched: recordProgress(c, owner) });
  },
);

/** The job, if the caller may read it; otherwise the same 404 as for a job that does not exist. */
async function callersJob(c: Context<HonoEnv>, id: string): Promise<OwnedJob> {
  // Authorisation before any cache tier: a hit must never answer a caller a miss would refuse.
  const owner = await c.get("jobStore").ownerOf(id);
  if (!owner || !mayReadJob(c.get("principal"), id, owner)) fail(404, JOB_NOT_FOUND);
  return owner;
}

/** What the proxy knows of the job's progress feeds listings and usage. */
function recordProgress(c: Context<HonoEnv>, owner: OwnedJob) {
  return (fresh: CachedJob) => {
    if (fresh.status === owner.status && fresh.pages === owner.pages) return;
    c.executionCtx.waitUntil(
      c
        .get("jobStore")
        .recordProgress(owner.id, fresh.status, fresh.pages)
        .catch((err: unknown) => {
          c.get("log").warn("could not record job progress", {
            jobId: owner.id,
            error: describeError(err),
          });
        }),
    );
  };
}

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
        z.minimum(1),
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

jobs.get(
  "/jobs",
  describeRoute({
    operationId: "listJobs",
    summary: "List your jobs, newest first",
    description: `Only the caller's jobs (a token with \`sub\` sees that user's, a token with \`jobs\` those), in Waveline's list shape. Each page spends one read of the tenant's read limit; \`total\` counts at most ${MAX_LISTED_TOTAL} jobs.`,
    tag: "jobs",
    auth: "jobs:read",
    responses: { 200: { description: "a page of jobs, without results", body: jobPage } },
    errors: {
      400: `\`count\` is not 1 to ${MAX_COUNT}, or \`offset\` is not 0 to ${MAX_OFFSET}`,
      ...TENANT_AUTH_ERRORS,
      503: STORAGE_UNAVAILABLE,
    },
  }),
  authenticate({ scope: "jobs:read" }),
  rateLimit("reads"),
  validate("query", pageSchema),
  async (c) => {
    const { count, offset } = c.req.valid("query");
    const { tenant, subject, jobIds } = c.get("principal");
    const { items, total } = await c
      .get("jobStore")
      .list(
        { tenantId: tenant.id, subject, jobIds: jobIds && [...jobIds] },
        { count, offset, countUpTo: MAX_LISTED_TOTAL },
      );
    // Waveline's own list shape, built from D1: its account-wide list is never exposed.
    return c.json({ items: items.map((job) => listItem(c, job)), offset, count, total });
  },
);

function listItem(c: Context<HonoEnv>, job: OwnedJob) {
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
