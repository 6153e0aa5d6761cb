import { type Context, Hono } from "hono";
import * as z from "zod/mini";
import { describeError, ServiceUnavailableError } from "../../core/errors";
import { subRow, TENANT_ROW } from "../../core/metrics/recorder";
import { metricsRange } from "../../core/metrics/store";
import { DURATION_BUCKETS_MS } from "../../core/metrics/tally";
import type { Services } from "../../core/services";
import type { AppEnv } from "../context";
import { fail } from "../errors";
import { describeRoute, STORAGE_UNAVAILABLE } from "../openapi/describe";
import { metricsReport } from "../openapi/responses";
import { limitReads } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { validate } from "../validate";

const rangeQuery = {
  from: z.optional(z.string().check(z.describe("start (ISO 8601); default 1 h or 1 day ago"))),
  to: z.optional(z.string().check(z.describe("end; default now"))),
  step: z.optional(z.enum(["minute", "hour"]).check(z.describe("default minute"))),
};
const adminQuery = z.object(rangeQuery);
const usageQuery = z.object({
  ...rangeQuery,
  sub: z.optional(
    z
      .string()
      .check(z.minLength(1), z.maxLength(256), z.describe("one end user (a token's `sub`)")),
  ),
});

const METRICS_ERRORS = {
  invalid_request: "bad `from`, `to` or `step`",
  metrics_unavailable: "metrics off or unreadable",
} as const;

const METRICS_DESCRIPTION = "Per minute (24 h) or hour (90 days); shows within ~5 s.";

/** Reads a tenant's (or one end user's) metrics over a range: the two routes share it. */
async function answerMetrics<E extends AppEnv>(
  c: Context<E>,
  services: Services,
  tenantId: string,
  query: { from?: string; to?: string; step?: string; sub?: string },
) {
  const reader = services.metricsReader;
  if (!reader) {
    throw new ServiceUnavailableError("metrics_unavailable", "metrics are switched off here");
  }
  const range = metricsRange(query, Date.now());
  if ("field" in range) return fail("invalid_request", `${range.field} ${range.rule}`);
  const row = query.sub === undefined ? TENANT_ROW : subRow(query.sub);
  let answer: Awaited<ReturnType<typeof reader.series>>;
  // Open streams are a count of now, not of a window: the tenant's stream leases hold it.
  const openStreams = services.streamLeases.count(tenantId).catch(() => null);
  try {
    answer = await reader.series(tenantId, { ...range, row });
  } catch (err) {
    c.var.log.warn("metrics unavailable", { tenantId, error: describeError(err) });
    throw new ServiceUnavailableError(
      "metrics_unavailable",
      "the tenant's metrics cannot be read now",
    );
  }
  return c.json({
    tenantId,
    ...(query.sub === undefined ? {} : { sub: query.sub }),
    step: range.step,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    durationBucketsMs: DURATION_BUCKETS_MS,
    openStreams: query.sub === undefined ? await openStreams : null,
    ...answer,
  });
}

/** `GET /usage/metrics`: the tenant's own metrics, per end user with `?sub=`. */
export function usageMetricsRoutes(services: Services) {
  return new Hono<AppEnv>().get(
    "/usage/metrics",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getOwnMetrics",
        summary: "Your metrics over time",
        description: `${METRICS_DESCRIPTION} \`sub\`: one end user's.`,
        tag: "jobs",
        auth: "api-key",
        responses: { 200: { description: "the metrics", body: metricsReport() } },
        errors: { ...METRICS_ERRORS, scope_missing: "the API key lacks the `usage:read` scope" },
      },
    ),
    authenticate(services, { apiKeyOnly: true, scope: "usage:read" }),
    limitReads(services),
    validate("query", usageQuery),
    (c) => answerMetrics(c, services, c.var.principal.tenant.id, c.req.valid("query")),
  );
}

/** `GET /admin/tenants/{id}/metrics`: any tenant's metrics, for operators. */
export function adminMetricsRoutes(services: Services) {
  return new Hono<AppEnv>().get(
    "/tenants/:id/metrics",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getTenantMetrics",
        summary: "A tenant's metrics over time",
        description: METRICS_DESCRIPTION,
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "the metrics", body: metricsReport() } },
        errors: { ...METRICS_ERRORS, tenant_not_found: "no such tenant", ...STORAGE_UNAVAILABLE },
      },
    ),
    validate("param", z.object({ id: z.string().check(z.maxLength(64)) })),
    validate("query", adminQuery),
    async (c) => {
      const tenantId = c.req.valid("param").id;
      if (!(await services.tenants.getTenant(tenantId)))
        fail("tenant_not_found", "tenant not found");
      return answerMetrics(c, services, tenantId, c.req.valid("query"));
    },
  );
}
