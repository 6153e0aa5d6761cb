import { Hono } from "hono";
import * as z from "zod/mini";
import { describeError } from "../../../core/errors";
import type { Services } from "../../../core/services";
import { eventOfStatus } from "../../../core/webhooks/payload";
import { watchForWebhooks } from "../../../core/webhooks/watch";
import { jobIdSchema } from "../../../waveline/schema";
import { adminActorOf } from "../../admin-auth";
import type { AppEnv } from "../../context";
import { fail } from "../../errors";
import {
  describeRoute,
  JOB_READ_ANSWERS,
  STORAGE_UNAVAILABLE,
  UPSTREAM_ERRORS,
} from "../../openapi/describe";
import { jobOwner } from "../../openapi/responses";
import { validate } from "../../validate";
import { withWaveline } from "../../waveline";
import { jobAnswers } from "../job-view";

/**
 * Operators read any job (through the cache; `Cache-Control: no-cache` refetches it), purge a job
 * from the cache, and give jobs created outside the proxy (or orphaned by a failed write) to a tenant.
 */
export function adminJobsRoutes(services: Services) {
  const adminJobs = new Hono<AppEnv>();
  const { serveJob } = jobAnswers(services);

  const jobParam = z.object({ jobId: jobIdSchema });

  const INVALID_JOB_ID =
    "the job id is not 1 to 128 characters, or is `.` or `..`, or holds a control character, `/` or a backslash";

  adminJobs.get(
    "/jobs/:jobId",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "adminGetJob",
        summary: "Read any job",
        description:
          "Through the edge cache, whoever owns the job; `Cache-Control: no-cache` reads Waveline and refreshes the cache (`X-Cache: BYPASS`).",
        tag: "admin: jobs",
        auth: "admin",
        requestHeaders: ["If-None-Match", "Cache-Control"],
        responses: JOB_READ_ANSWERS,
        errors: {
          invalid_request: INVALID_JOB_ID,
          job_not_found: "Waveline has no such job",
          ...UPSTREAM_ERRORS,
        },
      },
    ),
    validate("param", jobParam),
    withWaveline(services),
    async (c) => {
      const bypassCache = /\bno-cache\b/i.test(c.req.header("Cache-Control") ?? "");
      return serveJob(c, { operator: true, bypassCache }, c.req.valid("param").jobId);
    },
  );

  adminJobs.delete(
    "/cache/jobs/:jobId",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "purgeCachedJob",
        summary: "Purge a job from the cache",
        description:
          "From every tier this code can reach: this isolate's memory, this location's Cache API, and KV.",
        tag: "admin: jobs",
        auth: "admin",
        responses: { 204: { description: "purged (or was not cached)" } },
        errors: {
          invalid_request: INVALID_JOB_ID,
          cache_purge_failed: "a cache tier could not be purged: retry",
        },
      },
    ),
    validate("param", jobParam),
    async (c) => {
      const { jobId } = c.req.valid("param");
      try {
        await services.jobCache.purge(jobId);
      } catch (err) {
        c.var.log.error("cache purge failed", { jobId, error: describeError(err) });
        fail("cache_purge_failed", "cache purge failed, retry");
      }
      // The cache is not in D1: the entry follows the purge (a failure is logged, not undone).
      try {
        await services.audit.record({
          ...adminActorOf(c),
          action: "cache.purge",
          target: { jobId },
          before: null,
          after: null,
        });
      } catch (err) {
        c.var.log.alert("audit entry not written", {
          action: "cache.purge",
          jobId,
          error: describeError(err),
        });
      }
      return c.body(null, 204);
    },
  );

  adminJobs.put(
    "/jobs/:jobId/owner",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "assignJobOwner",
        summary: "Give a job to a tenant",
        description:
          "For jobs created outside the proxy, or orphaned by a failed write: the job must exist at Waveline, and any previous owner is replaced. A job still running sends its webhook to the new owner's endpoints when it ends, never to the previous owner's.",
        tag: "admin: jobs",
        auth: "admin",
        responses: { 200: { description: "the job's new owner", body: jobOwner } },
        errors: {
          invalid_request: `${INVALID_JOB_ID}, or a body field breaks its rule`,
          tenant_not_found: "no such tenant",
          job_not_found: "Waveline has no such job",
          ...STORAGE_UNAVAILABLE,
          ...UPSTREAM_ERRORS,
        },
      },
    ),
    validate("param", jobParam),
    validate(
      "json",
      z.object({
        tenantId: z.string().check(z.minLength(1)),
        subject: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(256)))),
      }),
    ),
    withWaveline(services),
    async (c) => {
      const { jobId } = c.req.valid("param");
      const { tenantId, subject } = c.req.valid("json");
      if (!(await services.tenants.getTenant(tenantId)))
        fail("tenant_not_found", "tenant not found");
      // Only a job Waveline knows can be owned: this also fills in its type, name and progress.
      const job = await c.var.waveline.getJob(jobId, c.var.log);
      const owned = {
        id: jobId,
        tenantId,
        subject: subject ?? null,
        type: job.type,
        fileName: job.fileName,
        createdAt: new Date(Date.parse(job.createdAt) || Date.now()).toISOString(),
        status: job.status,
        pages: job.pages,
      };
      await services.jobs.assign(owned, adminActorOf(c));
      // Its outcome goes to its owner when it ends: to this tenant's endpoints, if it has any.
      if (!eventOfStatus(job.status)) {
        const self = `${new URL(c.req.url).origin}/jobs/${encodeURIComponent(jobId)}`;
        await watchForWebhooks(services, tenantId, jobId, self, c.var.scope);
      }
      return c.json({ jobId, tenantId, subject: owned.subject });
    },
  );
  return adminJobs;
}
