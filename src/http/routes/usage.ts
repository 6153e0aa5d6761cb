import { Hono } from "hono";
import { monthOf, monthReport } from "../../core/creation/budget";
import type { Services } from "../../core/services";
import type { AppEnv } from "../context";
import { describeRoute } from "../openapi/describe";
import { usageReport } from "../openapi/responses";
import { limitReads } from "../rate-limit";
import { authenticate } from "../tenant-auth";

/** A tenant's backend sees what it has spent this month and what its budget leaves. */
export function usageRoutes(services: Services) {
  const usage = new Hono<AppEnv>();

  usage.get(
    "/usage",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getOwnUsage",
        summary: "Your jobs and billed pages this month, and your page budget",
        description:
          "This calendar month so far (UTC): jobs created, completed and failed, pages billed (every job's, read or not: a job's final pages count within about 15 s of its end), and what the operator's page budget leaves.",
        tag: "jobs",
        auth: "api-key",
        responses: { 200: { description: "the usage", body: usageReport } },
        errors: { scope_missing: "the API key lacks the `usage:read` scope" },
      },
    ),
    authenticate(services, { apiKeyOnly: true, scope: "usage:read" }),
    limitReads(services),
    async (c) => {
      const { tenant } = c.var.principal;
      const jobs = services.jobs;
      const now = Date.now();
      const from = monthOf(now).start;
      const to = new Date(now).toISOString();
      const [counts, budget] = await Promise.all([
        jobs.usage(tenant.id, from, to),
        monthReport(jobs, tenant, now),
      ]);
      return c.json({ tenantId: tenant.id, from, to, ...counts, budget });
    },
  );
  return usage;
}
