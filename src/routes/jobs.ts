import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import * as z from "zod/mini";
import type { HonoEnv } from "../env";
import { withWaveline } from "../http/config";
import { describeError, fail } from "../http/errors";
import { withJobCache } from "../http/job-cache";
import { nestsDeeperThan, REQUEST_LIMITS } from "../http/limits";
import { rateLimit } from "../http/rate-limit";
import { authenticate } from "../http/tenant-auth";
import { validate } from "../http/validate";
import { mayReadJob } from "../tenancy/access";
import type { OwnedJob } from "../tenancy/store";
import type { JobKind } from "../waveline/client";
import { JOB_STATUSES, type JobStatus, jobIdSchema } from "../waveline/schema";
import { proxyJobUrl, serveJob, throughProxy } from "./job-view";

/** The tenant's view of Waveline's jobs: its own and no one else's. */
export const jobs = new Hono<HonoEnv>();

/** The same answer for "no such job" and "not yours": ids must not reveal other tenants' jobs. */
const JOB_NOT_FOUND = "job not found";

jobs.get(
  // `{.*}` so that empty ids and ids with slashes reach the validator and get a 400.
  "/jobs/:id{.*}",
  authenticate({ scope: "jobs:read" }),
  rateLimit("reads"),
  validate("param", z.object({ id: jobIdSchema })),
  withWaveline(),
  withJobCache(),
  async (c) => {
    const { id } = c.req.valid("param");
    // Authorisation before any cache tier: a hit must never answer a caller a miss would refuse.
    const owner = await c.var.jobStore.ownerOf(id);
    if (!owner || !mayReadJob(c.var.principal, id, owner)) fail(404, JOB_NOT_FOUND);
    return serveJob(c, id, {
      // What the proxy knows of the job's progress feeds listings and usage.
      onFetched: (fresh) => {
        if (fresh.status === owner.status && fresh.pages === owner.pages) return;
        c.executionCtx.waitUntil(
          c.var.jobStore.recordProgress(id, fresh.status, fresh.pages).catch((err: unknown) => {
            c.var.log.warn("could not record job progress", {
              jobId: id,
              error: describeError(err),
            });
          }),
        );
      },
    });
  },
);

const pageSchema = z.object({
  count: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100, { error: "must be 1 to 100" })),
    10,
  ),
  offset: z._default(
    z.coerce.number().check(z.int(), z.minimum(0, { error: "must be 0 or more" })),
    0,
  ),
});

jobs.get(
  "/jobs",
  authenticate({ scope: "jobs:read" }),
  validate("query", pageSchema),
  async (c) => {
    const { count, offset } = c.req.valid("query");
    const { tenant, subject, jobIds } = c.var.principal;
    const { items, total } = await c.var.jobStore.list(
      { tenantId: tenant.id, subject, jobIds: jobIds && [...jobIds] },
      { count, offset },
    );
    // Waveline's own list shape, built from D1: its account-wide list is never exposed.
    return c.json({ items: items.map((job) => listItem(c, job)), offset, count, total });
  },
);

for (const kind of ["extract-document", "guess-shape"] satisfies JobKind[]) {
  jobs.post(
    `/${kind}`,
    authenticate({ scope: "jobs:create" }),
    (c, next) =>
      bodyLimit({
        maxSize: c.var.config.maxBodyBytes,
        onError: () => fail(413, `request body is larger than ${c.var.config.maxBodyBytes} bytes`),
      })(c, next),
    // Counted after the body checks: a malformed request must not use up the tenant's budget.
    async (c, next) => {
      c.set("creationBody", parseCreationBody(await c.req.text()));
      await next();
    },
    rateLimit("creates"),
    withWaveline(),
    async (c) => {
      const { body, fileName } = c.var.creationBody;
      const created = await c.var.waveline.createJob(kind, body);
      const { tenant, subject } = c.var.principal;
      const job: OwnedJob = {
        id: created.id,
        tenantId: tenant.id,
        subject: subject ?? null,
        type: typeof created.type === "string" ? created.type : kind,
        fileName: typeof created.fileName === "string" ? created.fileName : fileName,
        createdAt: isoDate(created.createdAt) ?? new Date().toISOString(),
        status: statusOf(created.status),
        pages: typeof created.pages === "number" ? created.pages : 0,
      };
      try {
        await c.var.jobStore.record(job);
      } catch (err) {
        // The job exists upstream but nobody can read it through the proxy: an operator can
        // still give it to its tenant with PUT /admin/jobs/{id}/owner.
        c.var.log.alert("job created but not recorded", { jobId: job.id, tenantId: tenant.id });
        throw err;
      }
      const proxied = throughProxy(c, created);
      return c.json(proxied, 201, { Location: proxied.urls.get });
    },
  );
}

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

/** The body must be a JSON object of sensible depth; its fileName is kept for listings. */
function parseCreationBody(body: string): { body: string; fileName: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    fail(400, "request body must be JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail(400, "request body must be a JSON object");
  }
  if (nestsDeeperThan(parsed, REQUEST_LIMITS.jsonDepth)) {
    fail(400, `request body nests deeper than ${REQUEST_LIMITS.jsonDepth} levels`);
  }
  const { fileName } = parsed as { fileName?: unknown };
  return { body, fileName: typeof fileName === "string" ? fileName : "" };
}

function isoDate(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

function statusOf(value: unknown): JobStatus {
  return JOB_STATUSES.includes(value as JobStatus) ? (value as JobStatus) : "CREATED";
}
