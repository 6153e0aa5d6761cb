import * as z from "zod/mini";
import { AUDIT_ACTIONS } from "../../core/audit/log";
import type { ErrorCode } from "../../core/errors";
import { KEY_SCOPES } from "../../core/tenancy/keys";
import type { ApiKeyRecord, Tenant, Usage } from "../../core/tenancy/store";
import { SCOPES } from "../../core/tenancy/tokens";
import { createdJobSchema, jobSchema } from "../../waveline/schema";
import { ERROR_STATUS } from "../errors";

/**
 * The bodies the proxy answers, as zod schemas for the OpenAPI document. The job comes from the
 * upstream's own schema; the rest the proxy builds, and each `satisfies` its domain type, so a field
 * added there and not here does not compile (the OpenAPI tests check live answers against these).
 */

/** Every error; a few carry more: a job that exists but was not handed out, a spent budget. */
export const errorBody = z.object({
  error: z
    .string()
    .check(z.describe("what went wrong, for people: the field and rule, the limit…")),
  code: z
    .enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]])
    .check(z.describe("what went wrong, for programs: one code per cause, never renamed")),
  jobId: z.optional(
    z.string().check(z.describe("502 after creation: the job Waveline made, for an operator")),
  ),
  budget: z.optional(
    z.enum(["tenant", "end user"]).check(z.describe("402: whose page budget is used up")),
  ),
  resetsAt: z.optional(z.string().check(z.describe("402: when the budget resets (UTC)"))),
});

export const healthBody = z.object({ status: z.literal("ok") });

/** A Waveline list item: the job without its result, as the proxy recorded it. */
export const jobSummary = z.omit(jobSchema, { result: true });

export const jobPage = z.object({
  items: z.array(jobSummary),
  offset: z.number(),
  count: z.number(),
  total: z.number(),
});

/** Waveline does not publish the creating POSTs' answer: the proxy guarantees `id` and `urls.get`. */
export const createdJob = z.looseObject({
  ...createdJobSchema.shape,
  urls: z.looseObject({ get: z.string() }),
});

export const browserToken = z.object({
  token: z.string(),
  tokenType: z.literal("Bearer"),
  expiresAt: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  sub: z.optional(z.string()),
  jobs: z.optional(z.array(z.string())),
  pagesPerMonth: z.optional(z.number()),
});

const pagesPerMonth = z.nullable(z.number());

export const tenantRecord = z.object({
  id: z.string(),
  name: z.string(),
  allowedOrigins: z.array(z.string()),
  disabled: z.boolean(),
  rateLimits: z.object({
    readsPerMinute: z.nullable(z.number()),
    createsPerMinute: z.nullable(z.number()),
    endUserReadsPerMinute: z.nullable(
      z.number().check(z.describe("each end user's part of the reads (null: a quarter)")),
    ),
    endUserCreatesPerMinute: z.nullable(
      z.number().check(z.describe("each end user's part of the creations (null: a quarter)")),
    ),
    endUserStreams: z.nullable(
      z
        .number()
        .check(
          z.describe("event streams one end user may have open (null: a quarter of the tenant's)"),
        ),
    ),
  }),
  budget: z.object({
    pagesPerMonth: pagesPerMonth.check(z.describe("the tenant's pages a calendar month (UTC)")),
    endUserPagesPerMonth: pagesPerMonth.check(
      z.describe("each end user's, unless their token carries their own"),
    ),
  }),
  tokensNotBefore: z.nullable(
    z.string().check(z.describe("browser tokens issued at or before this instant are refused")),
  ),
  createdAt: z.string(),
  updatedAt: z.string(),
}) satisfies z.ZodMiniType<Tenant>;

export const tenantList = z.object({
  items: z.array(tenantRecord).check(z.describe("oldest first, then by id")),
  nextCursor: z.nullable(
    z.string().check(z.describe("pass as `cursor` for the next page; null: no more")),
  ),
});

export const apiKeyRecord = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  revokedAt: z.nullable(z.string()),
  expiresAt: z.nullable(
    z.string().check(z.describe("from then on the key answers 401; null: it does not expire")),
  ),
  scopes: z.array(z.enum(KEY_SCOPES)).check(z.describe("what the key may do")),
  lastUsedAt: z.nullable(
    z.string().check(z.describe("when a request last used the key, at most an hour stale")),
  ),
}) satisfies z.ZodMiniType<ApiKeyRecord>;

export const apiKeyList = z.object({ items: z.array(apiKeyRecord) });

/** The only answer that ever shows a key: it is stored as a hash. */
export const newApiKey = z.extend(apiKeyRecord, { key: z.string() });

/** A rotation: the new key (shown once) and the old one, which now expires at the time asked. */
export const rotatedApiKey = z.extend(newApiKey, { oldKey: apiKeyRecord });

/** This calendar month (UTC) against the tenant's page budget. */
export const budgetReport = z.object({
  month: z.string().check(z.describe("`YYYY-MM`, UTC")),
  resetsAt: z.string().check(z.describe("the first instant of the next month")),
  pagesUsed: z.number(),
  pagesPerMonth: pagesPerMonth,
  remaining: z.nullable(z.number()),
  endUserPagesPerMonth: pagesPerMonth,
});

export const usageReport = z.object({
  tenantId: z.string(),
  from: z.string(),
  to: z.string(),
  jobsCreated: z.number(),
  jobsCompleted: z.number(),
  jobsFailed: z.number(),
  pagesBilled: z.number(),
  budget: budgetReport,
}) satisfies z.ZodMiniType<Usage>;

let metricsSchemas: z.ZodMiniType | undefined;

/**
 * The metrics routes' answer, built on first use: only the OpenAPI script asks for it (inside
 * `describeRoute(globalThis.OPENAPI && …)`), so its many descriptions stay out of the Worker.
 */
export function metricsReport(): z.ZodMiniType {
  if (metricsSchemas) return metricsSchemas;
  const count = (text: string) => z.number().check(z.describe(text));

  /** One window's metrics, or a range's totals (`core/metrics/tally.ts` builds them). */
  const metricsPoint = z.object({
    requests: count("authenticated requests"),
    cacheHits: count("job reads answered from a cache tier"),
    upstreamCalls: count("calls to Waveline made (creations, job reads)"),
    upstreamCallsSaved: count(
      "job reads with no call of their own (cache hits, coalesced); in calls (Waveline prices pages)",
    ),
    jobsCreated: count("jobs created"),
    pagesBilled: count("pages billed ($0.30 each)"),
    errors: count("answers with status 400 or more"),
    statusClasses: z
      .object({ "2xx": z.number(), "3xx": z.number(), "4xx": z.number(), "5xx": z.number() })
      .check(z.describe("requests by status class")),
    routes: z
      .record(z.string(), z.number())
      .check(z.describe('requests by route, e.g. `"GET /jobs/:id"`')),
    cacheByTier: z
      .object({ memory: z.number(), location: z.number(), kv: z.number(), miss: z.number() })
      .check(z.describe("job reads by cache tier, or miss")),
    webhooks: z
      .object({ delivered: z.number(), retrying: z.number(), failed: z.number() })
      .check(z.describe("webhook delivery attempts by outcome")),
    streamsOpened: count("event streams opened"),
    durationMs: z
      .object({
        p50: z.nullable(z.number()),
        p95: z.nullable(z.number()),
        counts: z.array(z.number()),
      })
      .check(z.describe("ms: p50, p95 (bucket bounds); counts per `durationBucketsMs` bucket, +1")),
  });

  // One closed object, not an intersection: two closed schemas under allOf admit nothing.
  const metricsWindow = z.object({
    at: z.string().check(z.describe("the window's start (ISO time)")),
    ...metricsPoint.shape,
  });

  const report = z.object({
    tenantId: z.string(),
    sub: z.optional(z.string().check(z.describe("the end user, with `?sub=`"))),
    step: z.enum(["minute", "hour"]),
    from: z.string().check(z.describe("first window's start")),
    to: z.string().check(z.describe("end, exclusive")),
    durationBucketsMs: z
      .array(z.number())
      .check(z.describe("upper bounds of the histogram's buckets")),
    openStreams: z.nullable(
      z.number().check(z.describe("streams open now (null: unknown, or `sub`)")),
    ),
    series: z.array(metricsWindow).check(z.describe("every window, oldest first")),
    totals: metricsPoint,
  });
  namedResponses.add(metricsPoint, { id: "MetricsPoint" });
  namedResponses.add(metricsWindow, { id: "MetricsWindow" });
  namedResponses.add(report, { id: "Metrics" });
  metricsSchemas = report;
  return report;
}

const auditTarget = z.object({
  tenantId: z.optional(z.string()),
  keyId: z.optional(z.string()),
  webhookId: z.optional(z.string()),
  deliveryId: z.optional(z.string()),
  jobId: z.optional(z.string()),
});

const auditEntry = z.object({
  at: z.string().check(z.describe("when the change was made (ISO 8601, UTC)")),
  actor: z
    .string()
    .check(
      z.describe(
        "`admin:` and the first 12 hex digits of the admin token's SHA-256, or `key:` and the id of the tenant's API key",
      ),
      z.meta({ examples: ["admin:3f9a1c02b7e4"] }),
    ),
  action: z.enum(AUDIT_ACTIONS),
  target: auditTarget.check(z.describe("the ids the change is about")),
  before: z.unknown().check(z.describe("the state before (null: none); secrets redacted")),
  after: z.unknown().check(z.describe("the state after (null: none); secrets redacted")),
});

export const auditList = z.object({
  items: z.array(auditEntry),
  nextCursor: z.nullable(
    z.string().check(z.describe("pass as `cursor` for the next (older) page; null: no more")),
  ),
});

export const jobOwner = z.object({
  jobId: z.string(),
  tenantId: z.string(),
  subject: z.nullable(z.string()),
});

/** Component names: each response body is one named schema, referenced by `$ref`. */
export const namedResponses = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries({
  Error: errorBody,
  Health: healthBody,
  Job: jobSchema,
  JobSummary: jobSummary,
  JobPage: jobPage,
  CreatedJob: createdJob,
  BrowserToken: browserToken,
  Tenant: tenantRecord,
  TenantList: tenantList,
  ApiKey: apiKeyRecord,
  ApiKeyList: apiKeyList,
  NewApiKey: newApiKey,
  RotatedApiKey: rotatedApiKey,
  AuditList: auditList,
  Usage: usageReport,
  JobOwner: jobOwner,
})) {
  namedResponses.add(schema, { id });
}
