import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_ADMIN_TOKEN, TEST_WAVELINE_KEY } from "../constants";
import {
  fakeWaveline,
  ownedJobId,
  ownJob,
  proxyFetch,
  SEEDED,
  type TestTenant,
  tenantOwningSeededJobs,
  uniqueJobId,
} from "./helpers";

let acme: TestTenant;
beforeAll(async () => {
  acme = await tenantOwningSeededJobs();
});

let logLines: string[] = [];
beforeEach(() => {
  logLines = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    logLines.push(args.map(String).join(" "));
  });
});
afterEach(() => vi.restoreAllMocks());

describe("who may call GET /jobs/{id}", () => {
  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { Authorization: "Bearer not-the-admin-token" }],
    ["the Waveline key itself", { Authorization: `Bearer ${TEST_WAVELINE_KEY}` }],
    ["another scheme", { Authorization: `Basic ${btoa(`admin:${TEST_ADMIN_TOKEN}`)}` }],
  ])("answers 401 to %s, with no upstream call", async (_, headers) => {
    const id = await ownedJobId(acme, "unauthorised");

    const response = await proxyFetch(`/jobs/${id}`, { headers });

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "missing or invalid credentials",
      code: "authentication_failed",
    });
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });
});

describe("what reaches the upstream", () => {
  it("sends our key and Accept, and nothing of the client's credentials or forwarding headers", async () => {
    const id = await ownedJobId(acme, "hygiene");

    await proxyFetch(
      `/jobs/${id}`,
      acme.auth({
        headers: {
          Cookie: "session=abc",
          "X-Forwarded-For": "203.0.113.9",
          Forwarded: "for=203.0.113.9",
          "X-Real-IP": "203.0.113.9",
          "X-Custom": "client-only",
          Referer: "https://app.example/secret-page",
        },
      }),
    );

    const [call] = await fakeWaveline.calls(id);
    expect(call?.headers.authorization).toBe(`Bearer ${TEST_WAVELINE_KEY}`);
    expect(call?.headers.accept).toBe("application/json");
    for (const name of [
      "cookie",
      "x-forwarded-for",
      "forwarded",
      "x-real-ip",
      "x-custom",
      "referer",
    ]) {
      expect(call?.headers).not.toHaveProperty(name);
    }
    expect(JSON.stringify(call?.headers)).not.toContain(TEST_ADMIN_TOKEN);
  });

  it("passes none of the upstream's headers back, such as cookies", async () => {
    const id = await ownedJobId(acme, "upstream-headers");
    await fakeWaveline.fault({
      match: id,
      mode: "status",
      status: 404,
      headers: { "Set-Cookie": "upstream=1", Server: "waveline/1.2", "X-Upstream-Secret": "s" },
    });

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.headers.get("Set-Cookie")).toBeNull();
    expect(response.headers.get("X-Upstream-Secret")).toBeNull();
  });
});

describe("the Waveline key never shows", () => {
  it("appears in no response and no log line, whatever the upstream does", async () => {
    const scenarios = [
      { mode: "status", status: 400, body: { error: `bad key ${TEST_WAVELINE_KEY} used` } },
      { mode: "status", status: 401 },
      { mode: "status", status: 500, body: { error: TEST_WAVELINE_KEY } },
      { mode: "status", status: 429 },
      { mode: "malformed" },
      { mode: "drop" },
    ] as const;
    const bodies: string[] = [];
    for (const scenario of scenarios) {
      const id = await ownedJobId(acme, `leak-${scenario.mode}`);
      await fakeWaveline.fault({ match: id, ...scenario });
      const response = await proxyFetch(`/jobs/${id}`, acme.auth());
      bodies.push(JSON.stringify([...response.headers]), await response.text());
    }
    bodies.push(await (await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth())).text());

    expect(bodies.join("\n")).not.toContain(TEST_WAVELINE_KEY);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join("\n")).not.toContain(TEST_WAVELINE_KEY);
    expect(logLines.join("\n")).not.toContain(TEST_ADMIN_TOKEN);
  });

  it("logs a rejected key as an alert that names the setting, not its value", async () => {
    const id = await ownedJobId(acme, "alert");
    await fakeWaveline.fault({ match: id, mode: "status", status: 401 });

    await proxyFetch(`/jobs/${id}`, acme.auth());

    const alert = logLines.map((line) => JSON.parse(line)).find((line) => line.level === "alert");
    expect(alert?.msg).toContain("WAVELINE_API_KEY");
  });
});

describe("the request log", () => {
  it("writes one JSON line per request with route, status, cache and upstream timing", async () => {
    // Last seen finished, so this very request asks Waveline (a running job's watcher would).
    const id = uniqueJobId("logged");
    await ownJob(acme.id, id, null, "COMPLETED");
    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    const requests = logLines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === "request");
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      requestId: response.headers.get("X-Request-Id"),
      method: "GET",
      route: "/jobs/:id",
      status: 200,
      upstreamStatus: 200,
      upstreamAttempts: 1,
      cache: "MISS",
      tenantId: acme.id,
      credential: "api-key",
    });
    expect(requests[0].durationMs).toBeTypeOf("number");
    expect(requests[0].upstreamMs).toBeTypeOf("number");
  });

  it("says when a running job's answer came from its watcher", async () => {
    const id = await ownedJobId(acme, "logged-watched");
    await proxyFetch(`/jobs/${id}`, acme.auth());

    const [request] = logLines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === "request");
    expect(request).toMatchObject({ status: 200, cache: "MISS", watcher: true });
  });
});
