import * as z from "zod/mini";
import {
  MAX_UPSTREAM_TIMEOUT_MS,
  MIN_IDEMPOTENCY_TTL_S,
  WAIT_UNTIL_MS,
} from "./creation/deadlines";
import type { SigningKey } from "./tenancy/tokens";
import { DEFAULT_RETRY_DELAYS_S } from "./webhooks/schedule";

/** The proxy's settings, from the runtime's variables and secrets. */
export interface Config {
  wavelineApiUrl: string;
  /** Undefined when the secret is missing or empty: proxied routes then answer 503. */
  wavelineApiKey: string | undefined;
  upstreamTimeoutMs: number;
  adminToken: string | undefined;
  /** Serve the demo page at /demo: local development, or on purpose. */
  demoEnabled: boolean;
  /** Serves the console at /console (CONSOLE_ENABLED). */
  consoleEnabled: boolean;
  /** Undefined when TOKEN_SIGNING_KEYS is unset: no browser token is minted or accepted. */
  signingKeys: SigningKey[] | undefined;
  maxBodyBytes: number;
  /** Waveline's answers, read up to this many bytes: a longer one is a 502. */
  maxUpstreamBodyBytes: number;
  terminalCacheTtlS: number;
  /** 0 turns the reuse of CREATED/RUNNING answers off. */
  pendingCacheTtlMs: number;
  /** Per-tenant metrics on (`METRICS_ENABLED`), and how long an isolate gathers counts before it flushes them. */
  metricsEnabled: boolean;
  metricsFlushMs: number;
  /** How long the outcome of a creation is answered again for its Idempotency-Key. */
  idempotencyTtlS: number;
  /** Defaults for tenants without their own limits; 0 means unlimited. */
  readRateLimitPerMin: number;
  /** Open event streams per tenant at once. */
  streamsPerTenant: number;
  createRateLimitPerMin: number;
  /** Development only: webhooks may also go to http://127.0.0.1 and http://localhost. */
  webhooksAllowLocalUrls: boolean;
  /** Seconds before each retry of a failed webhook delivery. */
  webhookRetryDelaysS: readonly number[];
  /** Audit log entries older than this many days are removed (a few with each new entry). */
  auditRetentionDays: number;
}

export const DEFAULT_WAVELINE_API_URL = "https://waveline.ai/api/v1";

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

const signingKeysSchema = z
  .array(
    z.object({
      kid: z.string().check(z.minLength(1), z.maxLength(64)),
      secret: z
        .string()
        .check(z.minLength(32, { error: "secrets must be at least 32 characters" })),
    }),
  )
  .check(z.minLength(1, { error: "must list at least one key" }));

/** TOKEN_SIGNING_KEYS: a JSON array `[{"kid": "2026-11", "secret": "<32+ characters>"}]`, signer first. */
const signingKeysJson = z.pipe(
  z.string(),
  z.transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.issues.push({
        code: "custom",
        message: "must be a JSON array of {kid, secret}",
        input: text,
      });
      return z.NEVER;
    }
  }),
);

function perMinute(fallback: number) {
  return z._default(
    z.coerce
      .number({ error: "must be a number of requests per minute" })
      .check(
        z.int({ error: "must be a whole number" }),
        z.minimum(0, { error: "must be 0 (unlimited) or more" }),
      ),
    fallback,
  );
}

const configSchema = z.object({
  WAVELINE_API_URL: z._default(httpUrl, DEFAULT_WAVELINE_API_URL),
  WAVELINE_API_KEY: z.optional(z.string()),
  // As long as the signing secrets: the failed-auth limit does not stop guessing, length does.
  ADMIN_TOKEN: z.optional(
    z.string().check(z.minLength(32, { error: "must be at least 32 characters" })),
  ),
  DEMO_ENABLED: z._default(z.stringbool({ error: "must be true or false" }), false),
  CONSOLE_ENABLED: z._default(z.stringbool({ error: "must be true or false" }), false),
  UPSTREAM_TIMEOUT_MS: z._default(
    z.coerce.number({ error: "must be a number of milliseconds" }).check(
      z.int({ error: "must be a whole number of milliseconds" }),
      z.minimum(100, { error: "must be at least 100" }),
      // Past it, a creation whose client hung up could be cut off before the job is recorded.
      z.maximum(MAX_UPSTREAM_TIMEOUT_MS, {
        error: `must be at most ${MAX_UPSTREAM_TIMEOUT_MS}: a creation must end within the ${WAIT_UNTIL_MS / 1000} s waitUntil has after a client hangs up`,
      }),
    ),
    10_000,
  ),
  TOKEN_SIGNING_KEYS: z.optional(z.pipe(signingKeysJson, signingKeysSchema)),
  MAX_BODY_BYTES: z._default(
    z.coerce
      .number({ error: "must be a number of bytes" })
      .check(
        z.int({ error: "must be a whole number of bytes" }),
        z.minimum(1),
        z.maximum(100 * 1024 * 1024),
      ),
    10 * 1024 * 1024,
  ),
  // A Worker has 128 MB of memory: an answer's text and its parsed job both live in it.
  MAX_UPSTREAM_BODY_BYTES: z._default(
    z.coerce
      .number({ error: "must be a number of bytes" })
      .check(
        z.int({ error: "must be a whole number of bytes" }),
        z.minimum(1024, { error: "must be at least 1024" }),
        z.maximum(64 * 1024 * 1024, { error: "must be at most 67108864" }),
      ),
    32 * 1024 * 1024,
  ),
  TERMINAL_CACHE_TTL_S: z._default(
    z.coerce
      .number({ error: "must be a number of seconds" })
      .check(
        z.int({ error: "must be a whole number of seconds" }),
        z.minimum(60, { error: "must be at least 60" }),
      ),
    30 * 24 * 60 * 60,
  ),
  PENDING_CACHE_TTL_MS: z._default(
    z.coerce
      .number({ error: "must be a number of milliseconds" })
      .check(
        z.int({ error: "must be a whole number of milliseconds" }),
        z.minimum(0, { error: "must be 0 (off) or more" }),
        z.maximum(60_000, { error: "must be at most 60000" }),
      ),
    2000,
  ),
  METRICS_ENABLED: z._default(z.stringbool({ error: "must be true or false" }), true),
  METRICS_FLUSH_MS: z._default(
    z.coerce.number({ error: "must be a number of milliseconds" }).check(
      z.int({ error: "must be a whole number of milliseconds" }),
      z.minimum(0, { error: "must be 0 (flush at once) or more" }),
      z.maximum(20_000, {
        error: "must be at most 20000 (waitUntil ends 30 s after the answer)",
      }),
    ),
    5000,
  ),
  IDEMPOTENCY_TTL_S: z._default(
    z.coerce.number({ error: "must be a number of seconds" }).check(
      z.int({ error: "must be a whole number of seconds" }),
      z.minimum(MIN_IDEMPOTENCY_TTL_S, {
        error: `must be at least ${MIN_IDEMPOTENCY_TTL_S}: a key must outlive its creation and every retry of it`,
      }),
      z.maximum(7 * 24 * 60 * 60, { error: "must be at most 604800 (7 days)" }),
    ),
    24 * 60 * 60,
  ),
  READ_RATE_LIMIT_PER_MIN: perMinute(1200),
  STREAMS_PER_TENANT: z._default(
    z.coerce
      .number({ error: "must be a number of streams" })
      .check(
        z.int({ error: "must be a whole number" }),
        z.minimum(1, { error: "must be at least 1" }),
        z.maximum(100_000, { error: "must be at most 100000" }),
      ),
    100,
  ),
  CREATE_RATE_LIMIT_PER_MIN: perMinute(60),
  AUDIT_RETENTION_DAYS: z._default(
    z.coerce
      .number({ error: "must be a number of days" })
      .check(
        z.int({ error: "must be a whole number of days" }),
        z.minimum(1, { error: "must be at least 1" }),
        z.maximum(3650, { error: "must be at most 3650 (10 years)" }),
      ),
    365,
  ),
  WEBHOOKS_ALLOW_LOCAL_URLS: z._default(z.stringbool({ error: "must be true or false" }), false),
  WEBHOOK_RETRY_DELAYS_S: z.optional(
    z.pipe(
      z.string(),
      z.transform((text, ctx) => {
        const delays = text.split(",").map((part) => Number(part.trim()));
        if (
          delays.length > 0 &&
          delays.length <= 50 &&
          delays.every((s) => s >= 0 && s <= 86_400)
        ) {
          return delays;
        }
        ctx.issues.push({
          code: "custom",
          message: "must be 1 to 50 comma-separated seconds, each 0 to 86400",
          input: text,
        });
        return z.NEVER;
      }),
    ),
  ),
});

/** Every variable and secret the proxy reads; `wrangler.toml` names each of them. */
export const CONFIG_NAMES: readonly string[] = Object.keys(configSchema.shape);

export type ConfigResult = { ok: true; config: Config } | { ok: false; problem: string };

const parsed = new WeakMap<object, ConfigResult>();

/**
 * Validates the variables once per object that holds them (Workers' `env`, a parsed env file);
 * an empty string counts as unset.
 */
export function readConfig(env: object): ConfigResult {
  const cached = parsed.get(env);
  if (cached) return cached;
  const result = parseConfig(env);
  parsed.set(env, result);
  return result;
}

function parseConfig(env: object): ConfigResult {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = (env as Record<string, unknown>)[key];
    raw[key] = value === "" ? undefined : value;
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, problem: `${String(issue?.path[0])} ${issue?.message}` };
  }
  const vars = result.data;
  return {
    ok: true,
    config: {
      wavelineApiUrl: vars.WAVELINE_API_URL.replace(/\/+$/, ""),
      wavelineApiKey: vars.WAVELINE_API_KEY,
      upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      adminToken: vars.ADMIN_TOKEN,
      demoEnabled: vars.DEMO_ENABLED,
      consoleEnabled: vars.CONSOLE_ENABLED,
      signingKeys: vars.TOKEN_SIGNING_KEYS?.map(({ kid, secret }) => ({
        kid,
        // Never shared memory, whichever TextEncoder typing (Node's or workerd's) is in scope.
        secret: new TextEncoder().encode(secret) as Uint8Array<ArrayBuffer>,
      })),
      maxBodyBytes: vars.MAX_BODY_BYTES,
      maxUpstreamBodyBytes: vars.MAX_UPSTREAM_BODY_BYTES,
      terminalCacheTtlS: vars.TERMINAL_CACHE_TTL_S,
      pendingCacheTtlMs: vars.PENDING_CACHE_TTL_MS,
      metricsEnabled: vars.METRICS_ENABLED,
      metricsFlushMs: vars.METRICS_FLUSH_MS,
      idempotencyTtlS: vars.IDEMPOTENCY_TTL_S,
      readRateLimitPerMin: vars.READ_RATE_LIMIT_PER_MIN,
      streamsPerTenant: vars.STREAMS_PER_TENANT,
      createRateLimitPerMin: vars.CREATE_RATE_LIMIT_PER_MIN,
      webhooksAllowLocalUrls: vars.WEBHOOKS_ALLOW_LOCAL_URLS,
      webhookRetryDelaysS: vars.WEBHOOK_RETRY_DELAYS_S ?? DEFAULT_RETRY_DELAYS_S,
      auditRetentionDays: vars.AUDIT_RETENTION_DAYS,
    },
  };
}
