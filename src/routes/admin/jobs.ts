import { Hono } from "hono";
import * as z from "zod/mini";
import type { HonoEnv } from "../../env";
import { withWaveline } from "../../http/config";
import { describeError, fail } from "../../http/errors";
import { withJobCache } from "../../http/job-cache";
import { validate } from "../../http/validate";
import { jobIdSchema } from "../../waveline/schema";
import { serveJob } from "../job-view";

/**
 * Operators read any job (through the cache; `Cache-Control: no-cache` refetches it), purge a job
 * from the cache, and give jobs created outside the proxy (or orphaned by a failed write) to a tenant.
 */
export const adminJobs = new Hono<HonoEnv>();

const jobParam = z.object({ jobId: jobIdSchema });

adminJobs.get(
  "/jobs/:jobId",
  validate("param", jobParam),
  withWaveline(),
  withJobCache(),
  async (c) => {
    const bypassCache = /\bno-cache\b/i.test(c.req.header("Cache-Control") ?? "");
    return serveJob(c, c.req.valid("param").jobId, { bypassCache });
  },
);

adminJobs.delete("/cache/jobs/:jobId", validate("param", jobParam), withJobCache(), async (c) => {
  const { jobId } = c.req.valid("param");
  try {
    await c.var.jobCache.purge(jobId);
  } catch (err) {
    c.var.log.error("cache purge failed", { jobId, error: describeError(err) });
    fail(503, "cache purge failed, retry");
  }
  return c.body(null, 204);
});

adminJobs.put(
  "/jobs/:jobId/owner",
  validate("param", jobParam),
  validate(
    "json",
    z.object({
      tenantId: z.string().check(z.minLength(1)),
      subject: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(256)))),
    }),
  ),
  withWaveline(),
  async (c) => {
    const { jobId } = c.req.valid("param");
    const { tenantId, subject } = c.req.valid("json");
    if (!(await c.var.tenantStore.getTenant(tenantId))) fail(404, "tenant not found");
    // Only a job Waveline knows can be owned: this also fills in its type, name and progress.
    const job = await c.var.waveline.getJob(jobId);
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
    await c.var.jobStore.assign(owned);
    return c.json({ jobId, tenantId, subject: owned.subject });
  },
);
