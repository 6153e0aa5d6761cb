import { Hono } from "hono";
import * as z from "zod/mini";
import type { HonoEnv } from "../../env";
import { withWaveline } from "../../http/config";
import { fail } from "../../http/errors";
import { validate } from "../../http/validate";
import { jobIdSchema } from "../../waveline/schema";

/** Operators give jobs created outside the proxy (or orphaned by a failed write) to a tenant. */
export const adminJobs = new Hono<HonoEnv>();

adminJobs.put(
  "/jobs/:jobId/owner",
  validate("param", z.object({ jobId: jobIdSchema })),
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
