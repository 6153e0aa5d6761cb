import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { worker as app } from "../../src/platform/cloudflare/worker";
import { PROXY_ORIGIN, proxyFetch } from "./helpers";

/** The app with DEMO_ENABLED set as given (wrangler.toml leaves it "false"). */
function withDemo(value: string, path = "/demo", init?: RequestInit): Promise<Response> {
  const demoEnv = { ...env, DEMO_ENABLED: value };
  return Promise.resolve(
    app.request(`${PROXY_ORIGIN}${path}`, init, demoEnv, createExecutionContext()),
  );
}

describe("GET /demo", () => {
  it("is off by default: a 404 byte for byte like a path that does not exist, for every method", async () => {
    const unknown = await proxyFetch("/no-such-page");
    const expected = await unknown.text();

    for (const method of ["GET", "POST", "DELETE"]) {
      const response = await proxyFetch("/demo", { method });
      expect(response.status).toBe(404);
      expect(await response.text()).toBe(expected);
    }
  });

  it("serves the page, its script and its style when enabled, with nothing from elsewhere", async () => {
    const page = await withDemo("true");
    const script = await withDemo("true", "/demo/demo.js");
    const style = await withDemo("true", "/demo/demo.css");

    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src *");
    const html = await page.text();
    expect(html).toContain('<script src="/demo/demo.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/demo/demo.css">');
    // Nothing from elsewhere, and no credential of any kind in the page.
    expect(html).not.toMatch(/https?:\/\//);
    expect(script.status).toBe(200);
    expect(script.headers.get("Content-Type")).toMatch(/javascript/);
    expect(style.headers.get("Content-Type")).toMatch(/^text\/css/);
    for (const text of [html, await script.text(), await style.text()]) {
      expect(text).not.toMatch(/wlp_[A-Za-z0-9_]{8,}|eyJ[A-Za-z0-9_-]{10,}/);
    }
  });

  it("serves no file of the page while off, and nothing else under /demo", async () => {
    const unknown = await (await proxyFetch("/no-such-page")).text();

    for (const path of ["/demo/demo.js", "/demo/demo.css"]) {
      const off = await proxyFetch(path);
      expect(off.status).toBe(404);
      expect(await off.text()).toBe(unknown);
    }
    expect((await withDemo("true", "/demo/index.html")).status).toBe(404);
    expect((await withDemo("true", "/demo/../wrangler.toml")).status).toBe(404);
  });

  it("answers only GET and HEAD when enabled", async () => {
    const response = await withDemo("true", "/demo", { method: "POST" });

    expect(response.status).toBe(405);
    expect(response.headers.get("Allow")).toBe("GET, HEAD");
    expect(await response.json()).toEqual({
      error: "method not allowed",
      code: "method_not_allowed",
    });
  });

  it("is not served under /api/v1", async () => {
    expect((await withDemo("true", "/api/v1/demo")).status).toBe(404);
  });

  it("refuses a DEMO_ENABLED that is neither true nor false, like any invalid setting", async () => {
    const response = await withDemo("perhaps");

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: "proxy is not configured: DEMO_ENABLED must be true or false",
      code: "not_configured",
    });
  });
});
