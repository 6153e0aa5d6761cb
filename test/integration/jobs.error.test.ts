import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { worker as app } from "../../src/platform/cloudflare/worker";
import {
  fakeWaveline,
  ownedJobId,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  tenantOwningSeededJobs,
  withoutWatchers,
} from "./helpers";

let acme: TestTenant;
beforeAll(async () => {
  acme = await tenantOwningSeededJobs();
});

async function expectError(
  response: Response,
  status: number,
  code: string,
  error: string | RegExp,
) {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
  expect(response.headers.get("X-Request-Id")).toBeTruthy();
  const body = (await response.json()) as { error: unknown; code: unknown };
  expect(Object.keys(body)).toEqual(["error", "code"]);
  expect(body.code).toBe(code);
  if (typeof error === "string") expect(body.error).toBe(error);
  else expect(body.error).toMatch(error);
}

describe("upstream answers, mapped", () => {
  it.each([
    { upstream: 400, status: 400, code: "upstream_refused", error: "fileName is required" },
    {
      upstream: 401,
      status: 502,
      code: "upstream_error",
      error: "upstream rejected the proxy's credentials",
    },
    {
      upstream: 403,
      status: 502,
      code: "upstream_error",
      error: "upstream rejected the proxy's credentials",
    },
    { upstream: 404, status: 404, code: "job_not_found", error: "job not found" },
    { upstream: 500, status: 502, code: "upstream_error", error: "upstream error" },
    {
      upstream: 418,
      status: 502,
      code: "upstream_error",
      error: "upstream sent an unexpected answer",
    },
  ])("upstream $upstream answers $status $code", async ({ upstream, status, code, error }) => {
    const id = await ownedJobId(acme, `status-${upstream}`);
    await fakeWaveline.fault({
      match: id,
      mode: "status",
      status: upstream,
      body: { error: upstream === 400 ? "fileName is required" : "nope" },
    });

    await expectError(await proxyFetch(`/jobs/${id}`, acme.auth()), status, code, error);
    expect(await fakeWaveline.calls(id)).toHaveLength(1);
  });

  it("answers 400 with a generic message when the upstream's 400 has no error text", async () => {
    const id = await ownedJobId(acme, "status-400-bare");
    await fakeWaveline.fault({ match: id, mode: "status", status: 400, body: "oops" });

    await expectError(
      await proxyFetch(`/jobs/${id}`, acme.auth()),
      400,
      "upstream_refused",
      "bad request",
    );
  });

  it("gives a 503 a default Retry-After when the upstream's 429 has none", async () => {
    const id = await ownedJobId(acme, "status-429-bare");
    await fakeWaveline.fault({ match: id, mode: "status", status: 429 });

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.status).toBe(503);
    expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
  });

  it("answers 502 when nothing listens at WAVELINE_API_URL", async () => {
    const unreachable = withoutWatchers({ ...env, WAVELINE_API_URL: "http://127.0.0.1:1/api/v1" });

    const response = await app.request(
      `${PROXY_ORIGIN}/jobs/${await ownedJobId(acme, "refused")}`,
      acme.auth(),
      unreachable,
    );

    await expectError(response, 502, "upstream_error", "upstream unreachable");
  });
});

describe("one retry for a GET", () => {
  it.each([502, 503, 504])(
    "retries once after an upstream %i and answers the retry",
    async (status) => {
      const id = await ownedJobId(acme, `retry-${status}`);
      await fakeWaveline.fault({ match: id, mode: "status", status, times: 1 });

      const response = await proxyFetch(`/jobs/${id}`, acme.auth());

      expect(response.status).toBe(200);
      expect(await fakeWaveline.calls(id)).toHaveLength(2);
    },
  );

  it("retries once after a dropped connection", async () => {
    const id = await ownedJobId(acme, "retry-drop");
    await fakeWaveline.fault({ match: id, mode: "drop", times: 1 });

    expect((await proxyFetch(`/jobs/${id}`, acme.auth())).status).toBe(200);
    expect(await fakeWaveline.calls(id)).toHaveLength(2);
  });

  it("does not retry twice, nor after an answer that is final", async () => {
    const failing = await ownedJobId(acme, "retry-twice");
    await fakeWaveline.fault({ match: failing, mode: "status", status: 503 });
    await expectError(
      await proxyFetch(`/jobs/${failing}`, acme.auth()),
      502,
      "upstream_error",
      "upstream error",
    );
    expect(await fakeWaveline.calls(failing)).toHaveLength(2);

    const final = await ownedJobId(acme, "retry-500");
    await fakeWaveline.fault({ match: final, mode: "status", status: 500, times: 1 });
    expect((await proxyFetch(`/jobs/${final}`, acme.auth())).status).toBe(502);
    expect(await fakeWaveline.calls(final)).toHaveLength(1);
  });
});

describe("bad requests never reach the upstream", () => {
  it.each([
    ["a slash", "/jobs/a%2Fb"],
    ["a path", "/jobs/a/b"],
    ["a path with a malformed escape", "/jobs/a/%E0"],
    ["a backslash", "/jobs/a%5Cb"],
    ["a control character", "/jobs/a%01b"],
    ["129 characters", `/jobs/${"a".repeat(129)}`],
  ])("answers 400 for %s", async (_, path) => {
    const response = await proxyFetch(path, acme.auth());

    await expectError(response, 400, "invalid_request", /^id must be 1 to 128 characters/);
  });

  it("made no upstream call for any of them", async () => {
    await proxyFetch("/jobs/never%20called", acme.auth());
    expect(await fakeWaveline.calls("never")).toHaveLength(0);
  });

  it("answers 404 for an unknown path and 405 for a wrong method", async () => {
    await expectError(await proxyFetch("/nope", acme.auth()), 404, "not_found", "not found");
    await expectError(await proxyFetch("/jobs/", acme.auth()), 404, "not_found", "not found");

    const response = await proxyFetch("/jobs/abc", acme.auth({ method: "DELETE" }));
    expect(response.headers.get("Allow")).toContain("GET");
    await expectError(response, 405, "method_not_allowed", "method not allowed");
  });
});

describe("configuration", () => {
  it.each([undefined, ""])(
    "answers 503 without calling upstream when the key is %j",
    async (key) => {
      const id = await ownedJobId(acme, "no-key");
      const response = await app.request(`${PROXY_ORIGIN}/jobs/${id}`, acme.auth(), {
        ...env,
        WAVELINE_API_KEY: key,
      });

      await expectError(
        response,
        503,
        "not_configured",
        "proxy is not configured: WAVELINE_API_KEY is missing",
      );
      expect(await fakeWaveline.calls(id)).toHaveLength(0);
    },
  );

  it("answers 503 naming the setting when a var is invalid", async () => {
    const response = await app.request(
      `${PROXY_ORIGIN}/health`,
      {},
      {
        ...env,
        UPSTREAM_TIMEOUT_MS: "soon",
      },
    );

    await expectError(
      response,
      503,
      "not_configured",
      /^proxy is not configured: UPSTREAM_TIMEOUT_MS /,
    );
    // The same answer headers as a configured proxy's: a JSON error, never framed or sniffed.
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(response.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
  });
});
