import { beforeAll, describe, expect, it } from "vitest";
import { asAdmin, createTenant, jsonBody, proxyFetch, SEEDED, type TestTenant } from "./helpers";

let acme: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
});

describe("security headers", () => {
  it.each([
    ["a job", `/jobs/${SEEDED.completed}`, 404],
    ["an error", "/jobs/bad%5Cid", 400],
    ["an unknown path", "/nope", 404],
    ["a refusal", "/admin/tenants", 401],
    ["health", "/health", 200],
  ])("are on %s", async (_, path, status) => {
    const response = await proxyFetch(path, path === "/admin/tenants" ? {} : acme.auth());

    expect(response.status).toBe(status);
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(response.headers.get("Content-Security-Policy")).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(response.headers.get("Server")).toBeNull();
    expect(response.headers.get("X-Powered-By")).toBeNull();
  });
});

describe("limits on what a client sends", () => {
  it("answers 414 for a very long URL", async () => {
    const response = await proxyFetch(`/jobs?pad=${"x".repeat(5000)}`, acme.auth());

    expect(response.status).toBe(414);
    expect(await response.json()).toEqual({
      error: "request URL is too long",
      code: "url_too_long",
    });
  });

  it("answers 431 for very large headers", async () => {
    const response = await proxyFetch(
      "/jobs",
      acme.auth({ headers: { "X-Padding": "x".repeat(17 * 1024) } }),
    );

    expect(response.status).toBe(431);
    expect(await response.json()).toEqual({
      error: "request headers are too large",
      code: "headers_too_large",
    });
  });

  it("answers 413 for a large body anywhere but job creation", async () => {
    const response = await proxyFetch(
      "/admin/tenants",
      asAdmin(jsonBody({ name: "big", allowedOrigins: [], pad: "x".repeat(70 * 1024) })),
    );

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: "request body is larger than 65536 bytes",
      code: "body_too_large",
    });
  });

  it("answers 400 for a creation body nested too deeply, without calling upstream", async () => {
    let nested: unknown = "deep";
    for (let level = 0; level < 100; level++) nested = { nested };

    const response = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody({ fileName: "a.txt", contentType: "text/plain", content: nested })),
    );

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "request body nests deeper than 64 levels",
      code: "invalid_json",
    });
  });
});
