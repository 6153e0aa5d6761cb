import { existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintBrowserToken } from "../../src/core/tenancy/tokens";
import { JOB_ID_RULE } from "../../src/waveline/schema";
import { startTestStack, type TestStack } from "../e2e/test-stack";
import { launchChromium } from "./chromium";

/**
 * The demo page in real headless Chromium, served from other origins than the proxy (two more
 * local ports), so that the browser itself enforces CORS: an origin the tenant lists watches a
 * job to COMPLETED over the live stream, and by polling where the stream is unavailable or fails,
 * an origin it does not list is stopped by the browser before any job exists,
 * an expired token reads as an error a person understands, and the browser's cache never shows
 * one user's finished job to another.
 */
const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
// A developer without Chromium gets a skip; CI must run this test, so there it fails instead.
const skip = !hasChromium && !process.env.CI;
if (skip) {
  // Straight to stderr: the suite shows console output only for failing tests.
  process.stderr.write(
    `Skipping the browser test: ${CHROMIUM} is missing (apt-get install chromium)\n`,
  );
}
// Three wrangler processes start before the first test: slow on a busy 2-core machine.
const STACK_START_TIMEOUT_MS = 120_000;
const RESULTS_DIR = fileURLToPath(new URL("../../test-results/", import.meta.url));

/** Saves what the page shows, as a test artifact (test-results/ is git-ignored). */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  await page.screenshot({ path: join(RESULTS_DIR, `demo-${name}.png`), fullPage: true });
}

describe.skipIf(skip)(
  "the demo page in headless Chromium, from another origin than the proxy",
  () => {
    let stack: TestStack;
    let browser: BrowserContext;
    let chromium: Awaited<ReturnType<typeof launchChromium>>;
    let allowed: PageServer;
    let blocked: PageServer;
    let tenantId: string;
    let apiKey: string;

    const proxy = (path: string, credential: string, body?: unknown) =>
      fetch(`${stack.proxyUrl}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { Authorization: `Bearer ${credential}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const json = async (response: Response) => (await response.json()) as Record<string, string>;

    /** Opens the demo page at `origin`, pointed at the proxy, recording what the browser says. */
    async function openDemo(server: PageServer): Promise<{ page: Page; messages: string[] }> {
      const page = await browser.newPage();
      const messages: string[] = [];
      page.on("console", (message) => messages.push(message.text()));
      page.on("requestfailed", (request) =>
        messages.push(
          `failed ${request.method()} ${request.url()}: ${request.failure()?.errorText}`,
        ),
      );
      await page.goto(`${server.origin}/`);
      await page.fill("#proxy-url", stack.proxyUrl);
      return { page, messages };
    }

    beforeAll(async () => {
      stack = await startTestStack({ DEMO_ENABLED: "true" });
      allowed = await servePage(stack.proxyUrl);
      blocked = await servePage(stack.proxyUrl);
      // The operator lists the page's origin for the tenant; the other origin nobody lists.
      const tenant = await json(
        await proxy("/admin/tenants", stack.vars.ADMIN_TOKEN ?? "", {
          name: "shop",
          allowedOrigins: [allowed.origin],
        }),
      );
      tenantId = tenant.id ?? "";
      const key = await json(
        await proxy(`/admin/tenants/${tenantId}/keys`, stack.vars.ADMIN_TOKEN ?? "", {
          name: "backend",
        }),
      );
      apiKey = key.key ?? "";
      chromium = await launchChromium({
        viewport: { width: 1000, height: 900 },
      });
      browser = chromium.browser;
    }, STACK_START_TIMEOUT_MS);

    afterAll(async () => {
      await chromium?.close();
      await allowed?.close();
      await blocked?.close();
      await stack?.stop();
    });

    it("lets a listed origin mint a token, create a job and watch it to COMPLETED", async () => {
      const { page, messages } = await openDemo(allowed);
      await page.click("#mint-box summary");
      await page.fill("#api-key", apiKey);
      await page.click("#mint");
      await expect.poll(() => page.inputValue("#token")).toMatch(/^eyJ/);
      expect(await page.inputValue("#api-key")).toBe("");

      const streams = eventStreamRequests(page);
      await page.click("#create");
      await page.locator("#status", { hasText: /^COMPLETED$/ }).waitFor({ timeout: 20_000 });

      expect(JSON.parse((await page.textContent("#result")) ?? "")).toEqual(SAMPLE_RESULT);
      const rows = await tableRows(page);
      // Columns: #, time, HTTP, job status, X-Cache, next poll, via.
      expect(rows.map((row) => row[6])).toEqual(rows.map(() => "pushed"));
      expect(rows[0]?.[3]).toBe("CREATED");
      expect(rows.at(-1)?.[3]).toBe("COMPLETED");
      expect(await page.textContent("#live-note")).toBe("");
      expect(await page.isVisible("#error")).toBe(false);
      // Closed at the terminal event: no reconnect after the server's `retry:` (2 s) that would
      // fetch the finished job again.
      await page.waitForTimeout(3_000);
      expect(streams).toHaveLength(1);
      expect(streams[0]).toMatch(/\/jobs\/[\w-]+\/events\?access_token=eyJ/);
      expect(await tableRows(page)).toHaveLength(rows.length);
      // The script and style ran under the page's CSP without a violation.
      expect(messages.join("\n")).not.toMatch(/Content Security Policy/i);

      await screenshot(page, "completed");
      await page.close();
    });

    it.each([
      {
        // A proxy from before GET /jobs/{id}/events: no token from the query (401), and its
        // GET /jobs/{id} takes "<id>/events" for an id (400). CORS as for any other answer.
        case: "an older proxy without live streams",
        stream: (authorization?: string) =>
          authorization
            ? answer(400, { error: `id ${JOB_ID_RULE}` })
            : answer(401, { error: "missing or invalid credentials" }),
        reason: `400 id ${JOB_ID_RULE}`,
        pushed: [],
        screenshot: "polled-no-stream",
      },
      {
        // One update, then what the proxy sends when Waveline has failed for a minute.
        case: "a stream that reports an error",
        stream: () => ({
          status: 200,
          contentType: "text/event-stream",
          body:
            `retry: 500\n\nevent: job\ndata: ${JSON.stringify({ status: "CREATED" })}\n\n` +
            `event: error\ndata: ${JSON.stringify({ error: "Waveline is failing" })}\n\n`,
        }),
        reason: "the stream reported: Waveline is failing",
        pushed: ["CREATED"],
        screenshot: "polled-stream-error",
      },
    ])(
      "falls back to polling, visibly, from $case",
      async ({ stream, reason, pushed, ...expected }) => {
        const { token } = await json(
          await proxy("/tokens", apiKey, { scopes: ["jobs:read", "jobs:create"] }),
        );
        const { page, messages } = await openDemo(allowed);
        await page.route(
          (url) => url.pathname.endsWith("/events"),
          (route) =>
            route.fulfill({
              ...stream(route.request().headers().authorization),
              headers: { "Access-Control-Allow-Origin": allowed.origin },
            }),
        );
        const streams = eventStreamRequests(page);
        await page.fill("#token", token ?? "");

        await page.click("#create");
        await page.locator("#status", { hasText: /^COMPLETED$/ }).waitFor({ timeout: 20_000 });

        expect(JSON.parse((await page.textContent("#result")) ?? "")).toEqual(SAMPLE_RESULT);
        expect(await page.textContent("#live-note")).toBe(
          `Live updates are unavailable (${reason}): polling GET /jobs/{id} instead.`,
        );
        const rows = await tableRows(page);
        // Columns: #, time, HTTP, job status, X-Cache, next poll, via.
        expect(rows.slice(0, pushed.length).map((row) => [row[3], row[6]])).toEqual(
          pushed.map((status) => [status, "pushed"]),
        );
        const polls = rows.slice(pushed.length);
        expect(polls.length).toBeGreaterThanOrEqual(2);
        expect(polls.map((row) => row[6])).toEqual(polls.map(() => "polled"));
        expect(polls.map((row) => row[3])).toContain("CREATED");
        expect(polls.at(-1)?.[3]).toBe("COMPLETED");
        expect(polls[0]?.[4]).toBe("MISS");
        for (const row of polls) expect(row[4]).toMatch(/^(MISS|HIT; tier=\w+)$/);
        // Retry-After (2 s in .dev.vars.example) paced every poll but the last.
        for (const row of polls.slice(0, -1)) expect(row[5]).toBe("2.0 s");
        // The stream was closed, not reopened after its `retry:` (0.5 s) while the page polled.
        expect(streams).toHaveLength(1);
        expect(await page.isVisible("#error")).toBe(false);
        expect(messages.join("\n")).not.toMatch(/Content Security Policy/i);

        await screenshot(page, expected.screenshot);
        await page.close();
      },
    );

    it("says a failed mint where Mint was clicked, and drops the notice of the last one", async () => {
      const { page } = await openDemo(allowed);
      await page.click("#mint-box summary");
      await page.fill("#api-key", apiKey);
      await page.click("#mint");
      await page.locator("#notice", { hasText: /^Token minted/ }).waitFor();

      await page.fill("#api-key", `${apiKey.slice(0, -4)}AAAA`);
      await page.click("#mint");
      await page.locator("#notice", { hasText: /^401 / }).waitFor();

      expect(await page.getAttribute("#notice", "class")).toBe("error");
      expect(await page.textContent("#notice")).not.toContain("Token minted");
      expect(await page.isVisible("#error")).toBe(false);
      expect(await page.textContent("#status")).toBe("idle");
      await page.close();
    });

    it("fits a 390 px phone: the updates table scrolls in its card, the page does not", async () => {
      const { token } = await json(
        await proxy("/tokens", apiKey, { scopes: ["jobs:read", "jobs:create"] }),
      );
      const { page } = await openDemo(allowed);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.fill("#token", token ?? "");

      await page.click("#create");
      await page.locator("#status", { hasText: /^COMPLETED$/ }).waitFor({ timeout: 20_000 });

      const width = await page.evaluate("document.documentElement.scrollWidth");
      expect(width).toBeLessThanOrEqual(390);
      await screenshot(page, "phone");
      await page.close();
    });

    it("closes the stream of a job when the user starts another", async () => {
      const { token } = await json(
        await proxy("/tokens", apiKey, { scopes: ["jobs:read", "jobs:create"] }),
      );
      const { page } = await openDemo(allowed);
      const streams = eventStreamRequests(page);
      await page.fill("#token", token ?? "");

      await page.click("#create");
      await page.locator("#polls tbody tr").first().waitFor();
      const firstJob = await page.inputValue("#job-id");
      // The first job is still running (CREATED just came): only the page can end its stream.
      const firstStreamAborted = page.waitForEvent("requestfailed", {
        predicate: (request) => request.url() === streams[0],
        timeout: 1_500,
      });
      await page.click("#create");
      await firstStreamAborted;
      await page.locator("#status", { hasText: /^COMPLETED$/ }).waitFor({ timeout: 20_000 });

      const secondJob = await page.inputValue("#job-id");
      expect(secondJob).not.toBe(firstJob);
      expect(streams.map((url) => new URL(url).pathname)).toEqual([
        `/jobs/${firstJob}/events`,
        `/jobs/${secondJob}/events`,
      ]);
      // Once the first job has finished too, nothing of it has come into the second one's table.
      await expect
        .poll(async () => (await json(await proxy(`/jobs/${firstJob}`, apiKey))).status)
        .toBe("COMPLETED");
      await page.waitForTimeout(1_000);
      const rows = await tableRows(page);
      expect(rows.filter((row) => row[3] === "COMPLETED")).toHaveLength(1);
      expect(rows[0]?.[3]).toBe("CREATED");
      await page.close();
    });

    it("is blocked by the browser from an origin the tenant does not list, before any job exists", async () => {
      const jobsBefore = await json(await proxy("/jobs", apiKey));
      const creationsBefore = await upstreamCreations(stack);
      const { token } = await json(
        await proxy("/tokens", apiKey, { scopes: ["jobs:read", "jobs:create"] }),
      );
      const { page, messages } = await openDemo(blocked);
      await page.fill("#token", token ?? "");

      await page.click("#create");
      await page.waitForSelector("#error:not([hidden])");

      const error = (await page.textContent("#error")) ?? "";
      expect(error).toContain("Network error");
      expect(error).toContain(`CORS: is ${blocked.origin} one of the tenant's allowedOrigins?`);
      expect(await page.textContent("#status")).toBe("error");
      // Chromium itself refused: the preflight carried no Access-Control-Allow-Origin.
      expect(messages.join("\n")).toMatch(
        /blocked by CORS policy|failed POST .*\/extract-document: net::ERR_FAILED/,
      );
      expect(await upstreamCreations(stack)).toBe(creationsBefore);
      expect((await json(await proxy("/jobs", apiKey))).total).toBe(jobsBefore.total);
      await screenshot(page, "blocked-origin");
      await page.close();
    });

    it("shows an expired token as a readable error", async () => {
      const keys = JSON.parse(stack.vars.TOKEN_SIGNING_KEYS ?? "[]") as {
        kid: string;
        secret: string;
      }[];
      // Minted by the proxy's own code ten minutes ago, for one minute.
      const { token } = await mintBrowserToken(
        keys.map(({ kid, secret }) => ({ kid, secret: new TextEncoder().encode(secret) })),
        { tenantId, keyId: "key_of_the_expired_token", scopes: ["jobs:read"] },
        60,
        Date.now() - 10 * 60_000,
      );
      const { page } = await openDemo(allowed);
      await page.fill("#token", token);
      await page.fill("#job-id", "00000000-0000-4000-8000-000000000001");

      await page.click("#watch");
      await page.waitForSelector("#error:not([hidden])");

      const error = (await page.textContent("#error")) ?? "";
      expect(error).toMatch(/^401 missing or invalid credentials\n/);
      expect(error).toContain("expired: mint a new one");
      expect(error).toMatch(/Request id: \S+/);
      // EventSource only says "error": the page asked the proxy why the stream was refused, and
      // does not poll what the proxy refuses anyway.
      expect(await page.textContent("#live-note")).toBe(
        "Live updates are unavailable (401 missing or invalid credentials).",
      );
      expect(await tableRows(page)).toEqual([]);
      expect(await page.textContent("#status")).toBe("error");
      await screenshot(page, "expired-token");
      await page.close();
    });

    it("asks the proxy before showing a finished job it cached for one user to another", async () => {
      const jobId = "00000000-0000-4000-8000-000000000001";
      const adopted = await fetch(`${stack.proxyUrl}/admin/jobs/${jobId}/owner`, {
        method: "PUT",
        headers: {
          Authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify({ tenantId, subject: "user-a" }),
      });
      expect(adopted.status).toBe(200);
      const tokenFor = async (sub: string) =>
        (await json(await proxy("/tokens", apiKey, { sub }))).token ?? "";
      const [userA, userB] = [await tokenFor("user-a"), await tokenFor("user-b")];
      const { page } = await openDemo(allowed);

      // The same URL from the same browser profile, as two users of one shared computer would.
      const statuses = await page.evaluate(
        async ({ url, tokens }) => {
          const seen: number[] = [];
          for (const token of tokens) {
            const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
            seen.push(response.status);
          }
          return seen;
        },
        { url: `${stack.proxyUrl}/jobs/${jobId}`, tokens: [userA, userB, userA] },
      );

      expect(statuses).toEqual([200, 404, 200]);
      await page.close();
    });
  },
);

/** What the fake Waveline extracts from the page's sample document. */
const SAMPLE_RESULT = {
  invoiceNumber: "Sample invoice number",
  vendor: "Sample vendor",
  total: 42,
  currency: "Sample currency",
};

/** A JSON answer for `route.fulfill`. */
function answer(status: number, body: { error: string }) {
  return { status, contentType: "application/json", body: JSON.stringify(body) };
}

/** The rows of the page's table of updates, as the texts of their cells. */
function tableRows(page: Page): Promise<string[][]> {
  return page.$$eval("#polls tbody tr", (rows) =>
    rows.map((row) => [...row.cells].map((cell) => cell.textContent ?? "")),
  );
}

/** The URLs of the event streams `page` opens from now on, as they are opened. */
function eventStreamRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on("request", (request) => {
    if (request.resourceType() === "eventsource") urls.push(request.url());
  });
  return urls;
}

interface PageServer {
  origin: string;
  close(): Promise<void>;
}

/** Serves the proxy's /demo page, with its CSP, from a port (so an origin) of its own. */
async function servePage(proxyUrl: string): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    // The page at `/`; its script and style at the paths the page names, as the proxy serves them.
    fetch(`${proxyUrl}${req.url === "/" ? "/demo" : req.url}`)
      .then(async (demo) => {
        res.writeHead(demo.status, {
          "Content-Type": demo.headers.get("Content-Type") ?? "text/html",
          "Content-Security-Policy": demo.headers.get("Content-Security-Policy") ?? "",
        });
        res.end(await demo.text());
      })
      .catch((err: unknown) => {
        res.writeHead(502).end(String(err));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Job-creating calls the fake Waveline has received so far. */
async function upstreamCreations(stack: TestStack): Promise<number> {
  if (!stack.fake) throw new Error("the test stack runs without the fake Waveline");
  const response = await fetch(`${stack.fake.origin}/__control/calls?match=/extract-document`);
  return ((await response.json()) as { total: number }).total;
}
