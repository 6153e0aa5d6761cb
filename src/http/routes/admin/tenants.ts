import { Hono } from "hono";
import * as z from "zod/mini";
import { monthOf, monthReport } from "../../../core/creation/budget";
import type { Services } from "../../../core/services";
import { generateApiKey, KEY_SCOPES } from "../../../core/tenancy/keys";
import { decodeTenantCursor, encodeTenantCursor, TENANT_PAGE } from "../../../core/tenancy/listing";
import { adminActorOf } from "../../admin-auth";
import type { AppEnv } from "../../context";
import { fail } from "../../errors";
import { describeRoute, STORAGE_UNAVAILABLE } from "../../openapi/describe";
import {
  apiKeyList,
  newApiKey,
  rotatedApiKey,
  tenantList,
  tenantRecord,
  usageReport,
} from "../../openapi/responses";
import { pageQuery } from "../../paging";
import { validate } from "../../validate";

const DAY_MS = 86_400_000;
/** How long a rotated key may go on beside its successor. */
export const MAX_ROTATION_OVERLAP_DAYS = 90;

/** Operators manage tenants, their browser origins and their API keys. */
export function adminTenantsRoutes(services: Services) {
  const adminTenants = new Hono<AppEnv>();

  /** `scheme://host[:port]`, exactly as a browser sends it in `Origin`. */
  const originSchema = z.string().check(
    z.refine((value) => {
      try {
        const url = new URL(value);
        return ["http:", "https:"].includes(url.protocol) && url.origin === value;
      } catch {
        return false;
      }
    }, "must be origins like https://app.example.com (scheme, host, optional port; no path)"),
  );
  const originsSchema = z
    .array(originSchema)
    .check(z.maxLength(50, { error: "must list at most 50 origins" }));
  const nameSchema = z
    .string()
    .check(
      z.trim(),
      z.minLength(1, { error: "must not be empty" }),
      z.maxLength(100),
      z.meta({ examples: ["acme"] }),
    );
  const perMinute = z.nullable(
    z.number().check(z.int(), z.minimum(0, { error: "must be 0 (unlimited) or more" })),
  );
  const pagesPerMonth = z.nullable(
    z.number().check(z.int(), z.minimum(0, { error: "must be 0 or more pages" })),
  );
  /** Pages a calendar month (UTC); null for none, and `budget: null` removes both. */
  const budgetSchema = z.nullable(
    z.object({
      pagesPerMonth: z.optional(pagesPerMonth),
      endUserPagesPerMonth: z.optional(pagesPerMonth),
    }),
  );
  const NO_BUDGET = { pagesPerMonth: null, endUserPagesPerMonth: null };

  /**
   * Requests per minute for this tenant, and each end user's part of them (and of its open
   * streams); null returns to the default (the proxy's; a quarter of the tenant's for end users).
   */
  const rateLimitsSchema = z.object({
    readsPerMinute: z.optional(perMinute),
    createsPerMinute: z.optional(perMinute),
    endUserReadsPerMinute: z.optional(perMinute),
    endUserCreatesPerMinute: z.optional(perMinute),
    endUserStreams: z.optional(
      z.nullable(
        z.number().check(z.int(), z.minimum(0, { error: "must be 0 (no share) or more" })),
      ),
    ),
  });
  const tenantIdParam = z.object({ id: z.string().check(z.maxLength(64)) });

  const TENANT_NOT_FOUND = { tenant_not_found: "no such tenant" } as const;
  /** A date-time with its zone, later than now (checked when the request is validated). */
  const futureInstant = z.iso
    .datetime({ offset: true, error: "must be an ISO 8601 date-time" })
    .check(z.refine((value) => Date.parse(value) > Date.now(), "must be in the future"));

  adminTenants.post(
    "/tenants",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "createTenant",
        summary: "Create a tenant",
        description:
          "A tenant with its name, the browser origins it lists, and optionally its own rate limits and page budgets; then give it an API key.",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 201: { description: "the tenant", body: tenantRecord } },
        errors: STORAGE_UNAVAILABLE,
      },
    ),
    validate(
      "json",
      z.object({
        name: nameSchema,
        allowedOrigins: z._default(originsSchema, []),
        rateLimits: z.optional(rateLimitsSchema),
        budget: z.optional(budgetSchema),
      }),
    ),
    async (c) => {
      const { budget, ...input } = c.req.valid("json");
      const tenant = await services.tenants.createTenant(
        { ...input, budget: budget ?? NO_BUDGET },
        adminActorOf(c),
      );
      return c.json(tenant, 201);
    },
  );

  adminTenants.get(
    "/tenants",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "listTenants",
        summary: "List tenants",
        description: `Every tenant, disabled ones included, oldest first, in pages of \`limit\` (default ${TENANT_PAGE.default}, at most ${TENANT_PAGE.max}); \`nextCursor\` fetches the next page, null on the last. A tenant created while you page comes on a later page.`,
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "a page of tenants, oldest first", body: tenantList } },
        errors: {
          invalid_request: "`limit` is out of range, or `cursor` is not one this route gave",
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate(
      "query",
      z.object({
        ...pageQuery(TENANT_PAGE, "tenants"),
      }),
    ),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const position = cursor === undefined ? undefined : decodeTenantCursor(cursor);
      if (position === null) fail("invalid_request", "cursor is not one this route gave");
      const { items, next } = await services.tenants.listTenants({ limit, cursor: position });
      return c.json({ items, nextCursor: next && encodeTenantCursor(next) });
    },
  );

  adminTenants.get(
    "/tenants/:id",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getTenant",
        summary: "Read a tenant",
        description:
          "The tenant's settings: origins, rate limits, page budgets, whether it is disabled.",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "the tenant", body: tenantRecord } },
        errors: { ...TENANT_NOT_FOUND, ...STORAGE_UNAVAILABLE },
      },
    ),
    validate("param", tenantIdParam),
    async (c) => {
      const tenant = await services.tenants.getTenant(c.req.valid("param").id);
      if (!tenant) fail("tenant_not_found", "tenant not found");
      return c.json(tenant);
    },
  );

  adminTenants.patch(
    "/tenants/:id",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "updateTenant",
        summary: "Rename, change origins, disable or enable a tenant",
        description: "A disabled tenant gets 403 for every credential, within 10 s everywhere.",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "the tenant as it is now", body: tenantRecord } },
        errors: { ...TENANT_NOT_FOUND, ...STORAGE_UNAVAILABLE },
      },
    ),
    validate("param", tenantIdParam),
    validate(
      "json",
      z.object({
        name: z.optional(nameSchema),
        allowedOrigins: z.optional(originsSchema),
        disabled: z.optional(z.boolean()),
        rateLimits: z.optional(rateLimitsSchema),
        budget: z.optional(budgetSchema),
      }),
    ),
    async (c) => {
      const { budget, ...patch } = c.req.valid("json");
      const tenant = await services.tenants.updateTenant(
        c.req.valid("param").id,
        { ...patch, ...(budget === undefined ? {} : { budget: budget ?? NO_BUDGET }) },
        adminActorOf(c),
      );
      if (!tenant) fail("tenant_not_found", "tenant not found");
      return c.json(tenant);
    },
  );

  adminTenants.post(
    "/tenants/:id/keys",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "createApiKey",
        summary: "Create an API key",
        description:
          "The key (`wlp_…`) is in this answer only: the proxy stores its hash. Optionally it expires (`expiresAt`: from then on it and the browser tokens it minted answer 401) and is limited to some `scopes` (a route needing another answers 403 `scope_missing`).",
        tag: "admin: tenants",
        auth: "admin",
        responses: {
          201: {
            description: "the key record and the key itself, with `Cache-Control: no-store`",
            body: newApiKey,
            headers: ["Cache-Control"],
          },
        },
        errors: {
          invalid_request:
            "a body field breaks its rule: `expiresAt` not an ISO 8601 date-time in the future, `scopes` empty or naming an unknown scope",
          ...TENANT_NOT_FOUND,
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate("param", tenantIdParam),
    validate(
      "json",
      z.object({
        name: nameSchema,
        expiresAt: z.optional(
          futureInstant.check(
            z.describe("from this instant on the key is refused (401); default: never"),
          ),
        ),
        scopes: z.optional(
          z
            .array(z.enum(KEY_SCOPES))
            .check(
              z.minLength(1, { error: "must name at least one scope" }),
              z.describe(
                "what the key may do: `jobs:read` (read and list jobs, their events), `jobs:create`, `tokens:mint` (`POST /tokens`, never a token with a scope the key lacks), `usage:read` (`GET /usage`), `webhooks:manage` (`/webhooks…`); default: all",
              ),
            ),
        ),
      }),
    ),
    async (c) => {
      const tenantId = c.req.valid("param").id;
      const tenant = await services.tenants.getTenant(tenantId);
      if (!tenant) fail("tenant_not_found", "tenant not found");
      const { name, expiresAt, scopes } = c.req.valid("json");
      const { key, prefix, hash } = await generateApiKey(await services.tenants.keyTagSecret());
      const record = await services.tenants.addKey(
        {
          tenantId,
          name,
          prefix,
          hash,
          expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
          scopes: scopes && KEY_SCOPES.filter((scope) => scopes.includes(scope)),
        },
        adminActorOf(c),
      );
      // The only time the key is ever shown: only its hash is stored.
      return c.json({ ...record, key }, 201, { "Cache-Control": "no-store" });
    },
  );

  adminTenants.get(
    "/tenants/:id/keys",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "listApiKeys",
        summary: "List a tenant's API keys, without secrets",
        description:
          "Live, expired and revoked keys, each with its prefix (the proxy keeps only their hashes), expiry, scopes and when it was last used (`lastUsedAt`, at most an hour stale).",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "live and revoked keys", body: apiKeyList } },
        errors: { ...TENANT_NOT_FOUND, ...STORAGE_UNAVAILABLE },
      },
    ),
    validate("param", tenantIdParam),
    async (c) => {
      const tenantId = c.req.valid("param").id;
      const tenant = await services.tenants.getTenant(tenantId);
      if (!tenant) fail("tenant_not_found", "tenant not found");
      return c.json({ items: await services.tenants.listKeys(tenantId) });
    },
  );

  adminTenants.delete(
    "/tenants/:id/keys/:keyId",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "revokeApiKey",
        summary: "Revoke an API key",
        description:
          "It stops working within 10 s everywhere, and so do the browser tokens it minted.",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 204: { description: "revoked" } },
        errors: {
          api_key_not_found: "no live key with this id in this tenant",
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate(
      "param",
      z.object({ id: z.string().check(z.maxLength(64)), keyId: z.string().check(z.maxLength(64)) }),
    ),
    async (c) => {
      const { id, keyId } = c.req.valid("param");
      if (!(await services.tenants.revokeKey(id, keyId, adminActorOf(c))))
        fail("api_key_not_found", "key not found");
      return c.body(null, 204);
    },
  );

  adminTenants.post(
    "/tenants/:id/keys/:keyId/rotate",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "rotateApiKey",
        summary: "Rotate an API key, with overlap",
        description: `A new key with the old one's name and scopes, shown in this answer only; the old key goes on working until \`oldKeyExpiresAt\` (default: in 24 hours, at most ${MAX_ROTATION_OVERLAP_DAYS} days; never later than an expiry it had already), then answers 401. Deploy the new key in between.`,
        tag: "admin: tenants",
        auth: "admin",
        responses: {
          201: {
            description:
              "the new key record and the key itself, with `Cache-Control: no-store`, and the old key as it is now",
            body: rotatedApiKey,
            headers: ["Cache-Control"],
          },
        },
        errors: {
          invalid_request: `\`oldKeyExpiresAt\` is not an ISO 8601 date-time in the future, or is more than ${MAX_ROTATION_OVERLAP_DAYS} days away`,
          api_key_not_found: "no live, unexpired key with this id in this tenant",
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate(
      "param",
      z.object({ id: z.string().check(z.maxLength(64)), keyId: z.string().check(z.maxLength(64)) }),
    ),
    validate(
      "json",
      z.object({
        oldKeyExpiresAt: z.optional(
          futureInstant.check(
            z.refine(
              (value) => Date.parse(value) <= Date.now() + MAX_ROTATION_OVERLAP_DAYS * DAY_MS,
              `must be at most ${MAX_ROTATION_OVERLAP_DAYS} days from now`,
            ),
            z.describe("when the old key stops working; default: 24 hours from now"),
          ),
        ),
      }),
    ),
    async (c) => {
      const { id, keyId } = c.req.valid("param");
      const { oldKeyExpiresAt } = c.req.valid("json");
      const { key, prefix, hash } = await generateApiKey(await services.tenants.keyTagSecret());
      const rotated = await services.tenants.rotateKey(
        id,
        keyId,
        {
          prefix,
          hash,
          oldKeyExpiresAt: new Date(oldKeyExpiresAt ?? Date.now() + DAY_MS).toISOString(),
        },
        adminActorOf(c),
      );
      if (!rotated) fail("api_key_not_found", "key not found, revoked or expired");
      // The only time the new key is ever shown: only its hash is stored.
      return c.json({ ...rotated.key, key, oldKey: rotated.old }, 201, {
        "Cache-Control": "no-store",
      });
    },
  );

  adminTenants.post(
    "/tenants/:id/revoke-tokens",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "revokeBrowserTokens",
        summary: "End every browser token of a tenant minted until now",
        description:
          "Without rotating the signing key all tenants share: the tenant's tokens issued up to this second answer 401, within 10 s everywhere; tokens minted afterwards work. Revoking an API key also ends the tokens it minted.",
        tag: "admin: tenants",
        auth: "admin",
        responses: {
          200: { description: "the tenant, with `tokensNotBefore` set to now", body: tenantRecord },
        },
        errors: { ...TENANT_NOT_FOUND, ...STORAGE_UNAVAILABLE },
      },
    ),
    validate("param", tenantIdParam),
    async (c) => {
      const tenant = await services.tenants.revokeTokens(c.req.valid("param").id, adminActorOf(c));
      if (!tenant) fail("tenant_not_found", "tenant not found");
      return c.json(tenant);
    },
  );

  /** `2026-11-01` (midnight UTC) or a full date-time with its zone. */
  const instant = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
    error: "must be an ISO 8601 date or date-time",
  });
  const usageQuery = z.object({
    from: z.optional(instant.check(z.describe("start, inclusive; default: the 1st of this month"))),
    to: z.optional(instant.check(z.describe("end, exclusive; default: now"))),
  });

  adminTenants.get(
    "/tenants/:id/usage",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getUsage",
        summary: "A tenant's jobs and billed pages over a period",
        description:
          "Jobs created in [`from`, `to`); by default this calendar month so far (UTC). `budget` is always this calendar month against the tenant's page budget.",
        tag: "admin: tenants",
        auth: "admin",
        responses: { 200: { description: "the usage", body: usageReport } },
        errors: {
          invalid_request:
            "`from` or `to` is not an ISO 8601 date or date-time, or `from` is not before `to`",
          ...TENANT_NOT_FOUND,
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate("param", tenantIdParam),
    validate("query", usageQuery),
    async (c) => {
      const tenantId = c.req.valid("param").id;
      const tenant = await services.tenants.getTenant(tenantId);
      if (!tenant) fail("tenant_not_found", "tenant not found");
      const query = c.req.valid("query");
      const now = new Date();
      // Default: this calendar month so far (UTC), the usual billing period.
      const from = query.from ? new Date(query.from).toISOString() : monthOf(now.getTime()).start;
      const to = new Date(query.to ?? now).toISOString();
      if (from >= to) fail("invalid_request", "from must be before to");
      const [usage, budget] = await Promise.all([
        services.jobs.usage(tenantId, from, to),
        monthReport(services.jobs, tenant, now.getTime()),
      ]);
      return c.json({ tenantId, from, to, ...usage, budget });
    },
  );
  return adminTenants;
}
