import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it, vi } from "vitest";
import type { worker as App } from "../../src/platform/cloudflare/worker";
import {
  asAdmin,
  jsonBody,
  PROXY_ORIGIN,
  proxyFetch,
  SEEDED,
  tenantOwningSeededJobs,
} from "./helpers";

/**
 * Read leases across isolates. Each isolate leases read tokens from the tenant's limiter object;
 * tokens it does not spend lapse. Leases sized by the limit instead of by the isolate's own use
 * let a few lightly used isolates spend the whole budget between them, and a tenant far below
 * its limit got 429s (first seen with two Workers sharing one tenant in the benchmark).
 */
it("a tenant reading far below its limit from five isolates is never refused", async () => {
  const tenant = await tenantOwningSeededJobs("many-isolates");
  const patched = await proxyFetch(
    `/admin/tenants/${tenant.id}`,
    asAdmin(jsonBody({ rateLimits: { readsPerMinute: 240 } }, { method: "PATCH" })),
  );
  expect(patched.status).toBe(200);
  const isolates: (typeof App)[] = [];
  for (let i = 0; i < 5; i++) {
    vi.resetModules();
    // A fresh module graph: its own leases, as another isolate has.
    isolates.push((await import("../../src/platform/cloudflare/worker")).worker);
  }
  const read = async (app: typeof App) => {
    const ctx = createExecutionContext();
    const response = await app.request(
      `${PROXY_ORIGIN}/jobs/${SEEDED.completed}`,
      tenant.auth(),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return response.status;
  };
  // Spend the bucket down first, so what the isolates take from now on is what decides.
  let status = 200;
  for (let i = 0; i < 300 && status === 200; i++) status = await read(isolates[0] as typeof App);
  expect(status).toBe(429);
  await new Promise((resolve) => setTimeout(resolve, 1_500));

  // 2 reads a second in all, a tenant allowed 4: every read must pass.
  const statuses: number[] = [];
  for (let round = 0; round < 4; round++) {
    const started = Date.now();
    for (const app of isolates) statuses.push(await read(app));
    await new Promise((resolve) => setTimeout(resolve, 2_500 - (Date.now() - started)));
  }

  expect(statuses.filter((s) => s !== 200)).toEqual([]);
});
