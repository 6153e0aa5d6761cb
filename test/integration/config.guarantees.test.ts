import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/core/config";
import {
  BEFORE_CALL_MS,
  creationEndsWithinMs,
  creationSettledWithinMs,
  inFlightLockMs,
  MAX_UPSTREAM_TIMEOUT_MS,
  MIN_IDEMPOTENCY_TTL_S,
  WAIT_UNTIL_MS,
} from "../../src/core/creation/deadlines";
import { proxyFetch } from "./helpers";

/** A fresh object each time: readConfig remembers its answer per object. */
function problemWith(vars: Record<string, string>): string | undefined {
  const result = readConfig({ ...vars });
  return result.ok ? undefined : result.problem;
}

describe("settings that would break 'never billed twice, never lost' are refused", () => {
  it("refuses an upstream timeout a creation could not finish within waitUntil's 30 s", () => {
    expect(problemWith({ UPSTREAM_TIMEOUT_MS: "120000" })).toMatch(
      /^UPSTREAM_TIMEOUT_MS must be at most 20000: a creation must end within the 30 s waitUntil/,
    );
    expect(problemWith({ UPSTREAM_TIMEOUT_MS: "20001" })).toMatch(/^UPSTREAM_TIMEOUT_MS /);
    expect(problemWith({ UPSTREAM_TIMEOUT_MS: "20000" })).toBeUndefined();
  });

  it("refuses an idempotency TTL a key could expire in while its creation or its retries run", () => {
    expect(problemWith({ IDEMPOTENCY_TTL_S: "60" })).toMatch(
      /^IDEMPOTENCY_TTL_S must be at least 3600: a key must outlive its creation/,
    );
    expect(problemWith({ IDEMPOTENCY_TTL_S: "3599" })).toMatch(/^IDEMPOTENCY_TTL_S /);
    expect(problemWith({ IDEMPOTENCY_TTL_S: "3600" })).toBeUndefined();
    expect(problemWith({ UPSTREAM_TIMEOUT_MS: "120000", IDEMPOTENCY_TTL_S: "60" })).toBeDefined();
  });

  it("the accepted ranges keep every creation inside waitUntil and every lock inside its key", () => {
    // Waveline's call, D1 (3 s), the ledger (2 s), the outbox (5 s): all after a hang-up.
    expect(creationEndsWithinMs(MAX_UPSTREAM_TIMEOUT_MS)).toBeLessThanOrEqual(WAIT_UNTIL_MS);
    for (const upstreamMs of [100, 1500, 10_000, MAX_UPSTREAM_TIMEOUT_MS]) {
      // The key stays in flight from its claim until the outcome is certainly kept...
      expect(inFlightLockMs(upstreamMs)).toBeGreaterThan(
        BEFORE_CALL_MS + creationSettledWithinMs(upstreamMs),
      );
      // ...and exists for longer than that.
      expect(MIN_IDEMPOTENCY_TTL_S * 1000).toBeGreaterThan(inFlightLockMs(upstreamMs));
    }
  });

  it("answers 503 naming the setting, as for any other bad setting", async () => {
    const response = await proxyFetch("/health", {}, { ...env, IDEMPOTENCY_TTL_S: "60" });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: string };
    expect(body.error).toMatch(/^proxy is not configured: IDEMPOTENCY_TTL_S must be at least 3600/);
  });
});
