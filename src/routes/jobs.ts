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
import {
  describeRoute,
  STORAGE_UNAVAILABLE,
  TENANT_AUTH_ERRORS,
  UPSTREAM_ERRORS,
} from "../openapi/describe";
import { createdJob, jobPage } from "../openapi/responses";
import { mayReadJob } from "../tenancy/access";
import type { OwnedJob } from "../tenancy/store";
import type { JobKind } from "../waveline/client";
import { JOB_STATUSES, type JobStatus, jobIdSchema, jobSchema } from "../waveline/schema";
import { proxyJobUrl, serveJob, throughProxy } from "./job-view";

/** The tenant's view of Waveline's jobs: its own and no one else's. */
export const jobs = new Hono<HonoEnv>();

/** The same answer for "no such job" and "not yours": ids must not reveal other tenants' jobs. */
const JOB_NOT_FOUND = "job not found";

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
      400: "the id is not 1 to 128 letters, digits, `-` or `_` (no upstream call), or Waveline refused the request",
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
    // Authorisation before any cache tier: a hit must never answer a caller a miss would refuse.
    const owner = await c.get("jobStore").ownerOf(id);
    if (!owner || !mayReadJob(c.get("principal"), id, owner)) fail(404, JOB_NOT_FOUND);
    return serveJob(c, id, {
      lastSeen: owner,
      // What the proxy knows of the job's progress feeds listings and usage.
      onFetched: (fresh) => {
        if (fresh.status === owner.status && fresh.pages === owner.pages) return;
        c.executionCtx.waitUntil(
          c
            .get("jobStore")
            .recordProgress(id, fresh.status, fresh.pages)
            .catch((err: unknown) => {
              c.get("log").warn("could not record job progress", {
                jobId: id,
                error: describeError(err),
              });
            }),
        );
      },
    });
  },
);

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

/** What Waveline expects in a creating POST; the document shows it, Waveline checks it. */
const creationBody = z.looseObject({
  fileName: z.string().check(z.describe("its suffix may guide the extractor")),
  contentType: z.string().check(z.describe("the document's MIME type")),
});

for (const kind of ["extract-document", "guess-shape"] satisfies JobKind[]) {
  jobs.post(
    `/${kind}`,
    describeRoute({
      operationId: kind === "extract-document" ? "createExtraction" : "createShapeGuess",
      summary:
        kind === "extract-document"
          ? "Extract structured data from a document"
          : "Guess the shape of a document's data",
      description:
        "Creates a job upstream and records it as the caller's (and the token's `sub`'s). Never retried: a retry could bill twice.",
      tag: "jobs",
      auth: "jobs:create",
      passThroughBody: {
        schema: creationBody,
        description: `Waveline's own \`POST /${kind}\` body, passed through as it is: the proxy checks only that it is a JSON object within \`MAX_BODY_BYTES\`.`,
      },
      responses: {
        201: {
          description: "the new job (expected status `CREATED`), `urls.get` on the proxy",
          body: createdJob,
          headers: ["Location"],
        },
      },
      errors: {
        400: "the body is not a JSON object, or Waveline refused it (its message)",
        ...TENANT_AUTH_ERRORS,
        413: "the body is larger than `MAX_BODY_BYTES`",
        ...UPSTREAM_ERRORS,
      },
    }),
    authenticate({ scope: "jobs:create" }),
    (c, next) =>
      bodyLimit({
        maxSize: c.get("config").maxBodyBytes,
        onError: () =>
          fail(413, `request body is larger than ${c.get("config").maxBodyBytes} bytes`),
      })(c, next),
    // Counted after the body checks: a malformed request must not use up the tenant's budget.
    async (c, next) => {
      c.set("creationBody", parseCreationBody(await c.req.text()));
      await next();
    },
    rateLimit("creates"),
    withWaveline(),
    async (c) => {
      const { body, fileName } = c.get("creationBody");
      const created = await c.get("waveline").createJob(kind, body);
      const { tenant, subject } = c.get("principal");
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
        await c.get("jobStore").record(job);
      } catch (err) {
        // The job exists upstream but nobody can read it through the proxy: an operator can
        // still give it to its tenant with PUT /admin/jobs/{id}/owner.
        c.get("log").alert("job created but not recorded", { jobId: job.id, tenantId: tenant.id });
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
