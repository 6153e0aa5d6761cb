import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { failureKey } from "../../src/http/auth-failures";
import { worker as app } from "../../src/platform/cloudflare/worker";
import { TEST_ADMIN_TOKEN } from "../constants";
import {
  asAdmin,
  createTenant,
  mintToken,
  PROXY_ORIGIN,
  type TestTenant,
  withBearer,
} from "./helpers";

/** The strict limiter allows 3 failures per minute per address (vitest.config.ts). */
const strict = { ...env, AUTH_FAILURE_LIMITER: env.TEST_STRICT_AUTH_LIMITER };
const from = (address: string, credential: string) =>
  withBearer(credential, { headers: { "CF-Connecting-IP": address } });
const request = (path: string, init: RequestInit, bindings: Env = strict) =>
  app.request(`${PROXY_ORIGIN}${path}`, init, bindings);

async function failFourTimes(address: string, path = "/jobs"): Promise<number[]> {
  const statuses: number[] = [];
  for (let guess = 0; guess < 4; guess++) {
    statuses.push((await request(path, from(address, `wlp_guess${guess}`))).status);
  }
  return statuses;
}

describe("failed authentication is limited per attempt, not per caller", () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant("behind-a-nat");
  });

  it("answers 429 to bad credentials over the limit while good ones from that address still work", async () => {
    const office = "203.0.113.77";
    expect(await failFourTimes(office)).toEqual([401, 401, 401, 429]);

    const bad = await request("/jobs", from(office, "wlp_another-guess"));
    expect(bad.status).toBe(429);
    expect(bad.headers.get("Retry-After")).toBe("60");
    expect(await bad.json()).toEqual({
      error: "too many failed authentication attempts, retry later",
      code: "too_many_auth_failures",
    });
    expect((await request("/jobs", from(office, tenant.key))).status).toBe(200);
    expect((await request("/jobs", from(office, await mintToken(tenant)))).status).toBe(200);
    expect((await request("/admin/tenants", from(office, TEST_ADMIN_TOKEN))).status).toBe(200);
  });

  it("also counts wrong admin tokens, and other addresses are not affected", async () => {
    expect(await failFourTimes("203.0.113.78", "/admin/tenants")).toEqual([401, 401, 401, 429]);
    expect((await request("/jobs", from("198.51.100.5", "wlp_first-try"))).status).toBe(401);
  });

  it("counts an IPv6 /64 as one address, however its addresses are written", async () => {
    const statuses: number[] = [];
    for (const address of ["2001:db8:7:1::1", "2001:db8:7:1::2", "2001:0db8:0007:0001:ffff::9"]) {
      statuses.push((await request("/jobs", from(address, "wlp_guess"))).status);
    }
    statuses.push((await request("/jobs", from("2001:db8:7:1:abcd::77", "wlp_guess"))).status);

    expect(statuses).toEqual([401, 401, 401, 429]);
    expect((await request("/jobs", from("2001:db8:7:2::1", "wlp_guess"))).status).toBe(401);
    expect((await request("/jobs", from("2001:db8:7:1::3", tenant.key))).status).toBe(200);
  });

  it.each([
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:DB8:0:0:1::", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:192.0.2.1", "0:0:0:0::/64"],
    ["192.0.2.1", "192.0.2.1"],
  ])("groups %s under %s", (address, key) => {
    expect(failureKey(address)).toBe(key);
  });
});

describe("ADMIN_TOKEN", () => {
  it("shorter than 32 characters is a configuration error (503), not a weak admin API", async () => {
    const short = "x".repeat(31);
    const response = await request("/admin/tenants", withBearer(short), {
      ...env,
      ADMIN_TOKEN: short,
    });

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: "proxy is not configured: ADMIN_TOKEN must be at least 32 characters",
      code: "not_configured",
    });
    expect(
      (await request("/admin/tenants", asAdmin(), { ...env, ADMIN_TOKEN: TEST_ADMIN_TOKEN }))
        .status,
    ).toBe(200);
  });
});
