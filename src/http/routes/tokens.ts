import { Hono } from "hono";
import * as z from "zod/mini";
import type { Services } from "../../core/services";
import { MAX_TOKEN_CHARS, mintBrowserToken, SCOPES, TOKEN_TTL_S } from "../../core/tenancy/tokens";
import { jobIdSchema } from "../../waveline/schema";
import type { AppEnv } from "../context";
import { fail } from "../errors";
import { describeRoute } from "../openapi/describe";
import { browserToken } from "../openapi/responses";
import { limitReads } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { validate } from "../validate";

/** A tenant's backend (API key) mints short-lived tokens for its browsers. */
export function tokensRoutes(services: Services) {
  const tokens = new Hono<AppEnv>();

  const mintSchema = z.object({
    sub: z.optional(
      z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(256),
          z.describe("the tenant's end user: the token creates and reads only that user's jobs"),
        ),
    ),
    scopes: z._default(
      z
        .array(z.enum(SCOPES))
        .check(
          z.minLength(1, { error: "must name at least one scope" }),
          z.describe("`jobs:read` reads and lists; `jobs:create` creates"),
        ),
      ["jobs:read"],
    ),
    jobs: z.optional(
      z
        .array(jobIdSchema)
        .check(
          z.maxLength(100, { error: "must list at most 100 jobs" }),
          z.describe("the token reads only these jobs"),
        ),
    ),
    pagesPerMonth: z.optional(
      z
        .number()
        .check(
          z.int(),
          z.minimum(0),
          z.describe(
            "with `sub`: the end user's monthly page budget, instead of the tenant's default for end users",
          ),
        ),
    ),
    ttlSeconds: z._default(
      z
        .number()
        .check(
          z.int(),
          z.minimum(1),
          z.maximum(TOKEN_TTL_S.max, { error: `must be at most ${TOKEN_TTL_S.max}` }),
          z.describe("the token's lifetime in seconds"),
        ),
      TOKEN_TTL_S.default,
    ),
  });

  tokens.post(
    "/tokens",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "mintBrowserToken",
        summary: "Mint a browser token",
        description:
          "A tenant's backend mints a short-lived token (HS256 JWT) and hands it to a browser, which sends it as `Authorization: Bearer`.",
        tag: "tokens",
        auth: "api-key",
        responses: {
          201: {
            description: "the token, with `Cache-Control: no-store`",
            body: browserToken,
            headers: ["Cache-Control"],
          },
        },
        errors: {
          invalid_request:
            "a body field breaks its rule (the message names both), or `pagesPerMonth` without `sub`",
          token_too_long: `the token would be longer than the ${MAX_TOKEN_CHARS} characters the proxy accepts (fewer \`jobs\`, a shorter \`sub\`)`,
          scope_missing:
            "the API key lacks the `tokens:mint` scope, or one of the `scopes` asked for: a token never carries more than its key",
          not_configured: "no `TOKEN_SIGNING_KEYS` configured",
        },
      },
    ),
    authenticate(services, { apiKeyOnly: true, scope: "tokens:mint" }),
    limitReads(services),
    validate("json", mintSchema),
    async (c) => {
      const keys = services.signingKeys;
      if (!keys) fail("not_configured", "proxy is not configured: TOKEN_SIGNING_KEYS is missing");
      const { sub, scopes, jobs, ttlSeconds, pagesPerMonth } = c.req.valid("json");
      if (pagesPerMonth !== undefined && sub === undefined) {
        fail("invalid_request", "pagesPerMonth needs a sub: it is one end user's budget");
      }
      const uniqueScopes = [...new Set(scopes)];
      const { tenant, keyId, scopes: keyScopes } = c.var.principal;
      // A token is a key's narrower stand-in: it never carries a scope its key lacks.
      const lacking = uniqueScopes.find((scope) => !keyScopes.has(scope));
      if (lacking !== undefined) {
        fail("scope_missing", `the API key lacks the ${lacking} scope: its tokens cannot have it`);
      }
      const { token, expiresAt } = await mintBrowserToken(
        await keys,
        {
          tenantId: tenant.id,
          keyId,
          subject: sub,
          scopes: uniqueScopes,
          jobIds: jobs,
          pagesPerMonth,
        },
        ttlSeconds,
      );
      // A token the proxy would refuse on every use is no token: say so now, not at each request.
      if (token.length > MAX_TOKEN_CHARS) {
        fail(
          "token_too_long",
          `the token would be ${token.length} characters, over the ${MAX_TOKEN_CHARS} the proxy accepts: list fewer jobs or use a shorter sub`,
        );
      }
      const minted = { token, tokenType: "Bearer", expiresAt, scopes: uniqueScopes, sub, jobs };
      return c.json({ ...minted, pagesPerMonth }, 201, {
        "Cache-Control": "no-store",
      });
    },
  );
  return tokens;
}
