import { Hono } from "hono";
import * as z from "zod/mini";
import type { HonoEnv } from "../env";
import { fail } from "../http/errors";
import { rateLimit } from "../http/rate-limit";
import { authenticate } from "../http/tenant-auth";
import { validate } from "../http/validate";
import { mintBrowserToken, SCOPES, TOKEN_TTL_S } from "../tenancy/tokens";
import { jobIdSchema } from "../waveline/schema";

/** A tenant's backend (API key) mints short-lived tokens for its browsers. */
export const tokens = new Hono<HonoEnv>();

const mintSchema = z.object({
  sub: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  scopes: z._default(
    z.array(z.enum(SCOPES)).check(z.minLength(1, { error: "must name at least one scope" })),
    ["jobs:read"],
  ),
  jobs: z.optional(
    z.array(jobIdSchema).check(z.maxLength(100, { error: "must list at most 100 jobs" })),
  ),
  ttlSeconds: z._default(
    z
      .number()
      .check(
        z.int(),
        z.minimum(1),
        z.maximum(TOKEN_TTL_S.max, { error: `must be at most ${TOKEN_TTL_S.max}` }),
      ),
    TOKEN_TTL_S.default,
  ),
});

tokens.post(
  "/tokens",
  authenticate({ apiKeyOnly: true }),
  rateLimit("reads"),
  validate("json", mintSchema),
  async (c) => {
    const keys = c.var.config.signingKeys;
    if (!keys) fail(503, "proxy is not configured: TOKEN_SIGNING_KEYS is missing");
    const { sub, scopes, jobs, ttlSeconds } = c.req.valid("json");
    const uniqueScopes = [...new Set(scopes)];
    const { token, expiresAt } = await mintBrowserToken(
      keys,
      { tenantId: c.var.principal.tenant.id, subject: sub, scopes: uniqueScopes, jobIds: jobs },
      ttlSeconds,
    );
    return c.json({ token, tokenType: "Bearer", expiresAt, scopes: uniqueScopes, sub, jobs }, 201, {
      "Cache-Control": "no-store",
    });
  },
);
