import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { MEMO_TTL_MS } from "../../src/core/tenancy/directory";
import { CREDENTIAL_RECHECK_MS } from "../../src/core/watching/while-credential-holds";
import {
  asAdmin,
  createTenant,
  failingStubs,
  fakeWaveline,
  jsonBody,
  mintToken,
  ownJob,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

/**
 * The job watcher: one Durable Object per running job, the only poller of it wherever its readers
 * are, and the source of its live-update streams. PENDING_CACHE_TTL_MS is 500 in the test pool.
 */

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("watched");
  globex = await createTenant("watched-other");
});

/** A job on the fake that stays RUNNING until the test moves it, owned by `tenant`. */
async function runningJob(label: string, tenant = acme): Promise<string> {
  const id = uniqueJobId(label);
  await fakeWaveline.createJob({ id, status: "RUNNING", pages: 1 });
  await ownJob(tenant.id, id);
  return id;
}

const upstreamReads = async (id: string) =>
  (await fakeWaveline.calls(`/jobs/${id}`)).filter((call) => call.method === "GET").length;

interface StreamEvent {
  event: string;
  id?: string;
  data: string;
}

/** Reads a text/event-stream as it arrives; `next()` waits for the next event (not comments). */
function eventReader(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  return {
    async next(timeoutMs = 8_000): Promise<StreamEvent | undefined> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const split = buffer.indexOf("\n\n");
        if (split >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const event: StreamEvent = { event: "message", data: "" };
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event.event = line.slice(7);
            else if (line.startsWith("id: ")) event.id = line.slice(4);
            else if (line.startsWith("data: ")) event.data += line.slice(6);
          }
          if (event.data !== "") return event;
          continue;
        }
        if (ended || Date.now() > deadline) return undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<undefined>((resolve) => setTimeout(resolve, deadline - Date.now())),
        ]);
        if (chunk === undefined) return undefined;
        if (chunk.done) ended = true;
        else buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    async ended(timeoutMs = 8_000): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!ended && Date.now() < deadline) {
        const chunk = await Promise.race([
          reader.read(),
          new Promise<undefined>((resolve) => setTimeout(resolve, deadline - Date.now())),
        ]);
        if (chunk?.done) ended = true;
      }
      return ended;
    },
    cancel: () => reader.cancel(),
  };
}

/** The events of a job, through the Worker's fetch handler (streams need a live response). */
function openEvents(id: string, init: RequestInit = acme.auth(), query = "") {
  return proxyStream(`/jobs/${encodeURIComponent(id)}/events${query}`, init);
}

async function proxyStream(path: string, init: RequestInit, bindings: Env = env) {
  const { worker: app } = await import("../../src/platform/cloudflare/worker");
  return app.request(`${PROXY_ORIGIN}${path}`, init, bindings, createExecutionContext());
}

describe("an open stream ends with its credential", () => {
  it("when its browser token expires: `event: error`, and nothing after it", async () => {
    const tenant = await createTenant("stream-expiry");
    const id = await runningJob("expiry", tenant);
    const token = await mintToken(tenant, { ttlSeconds: 1 });
    const opened = Date.now();

    const events = eventReader(await proxyStream(`/jobs/${id}/events`, withBearer(token)));
    expect((await events.next())?.event).toBe("job");
    const ended = await events.next(15_000);

    expect(ended?.event).toBe("error");
    expect(JSON.parse(ended?.data ?? "{}")).toEqual({
      error: "the credential has expired or was revoked",
      code: "authentication_failed",
    });
    // The token's second, the 5 s of clock skew every request allows, and one re-check.
    expect(Date.now() - opened).toBeLessThan(1_000 + 5_000 + 2_000);
    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 2 });
    expect(await events.next(3_000)).toBeUndefined();
    expect(await events.ended()).toBe(true);
  });

  const admin = (path: string, init: RequestInit) => proxyStream(path, asAdmin(init), env);

  it.each([
    [
      "its API key is revoked",
      "api-key",
      (t: TestTenant) => admin(`/admin/tenants/${t.id}/keys/${t.keyId}`, { method: "DELETE" }),
      { error: "the credential has expired or was revoked", code: "authentication_failed" },
    ],
    [
      "the key that minted its token is revoked",
      "token",
      (t: TestTenant) => admin(`/admin/tenants/${t.id}/keys/${t.keyId}`, { method: "DELETE" }),
      { error: "the credential has expired or was revoked", code: "authentication_failed" },
    ],
    [
      "the tenant's tokens are revoked",
      "token",
      (t: TestTenant) => admin(`/admin/tenants/${t.id}/revoke-tokens`, { method: "POST" }),
      { error: "the credential has expired or was revoked", code: "authentication_failed" },
    ],
    [
      "the tenant is disabled",
      "token",
      (t: TestTenant) =>
        admin(`/admin/tenants/${t.id}`, jsonBody({ disabled: true }, { method: "PATCH" })),
      { error: "the credential is no longer allowed this", code: "tenant_disabled" },
    ],
  ] as const)("when %s (%s)", async (_, credential, revoke, lapse) => {
    const tenant = await createTenant(`stream-revoked-${credential}`);
    const id = await runningJob(`revoked-${credential}`, tenant);
    const auth = credential === "api-key" ? tenant.auth() : withBearer(await mintToken(tenant));
    const events = eventReader(await proxyStream(`/jobs/${id}/events`, auth));
    expect((await events.next())?.event).toBe("job");

    expect([200, 204]).toContain((await revoke(tenant)).status);
    const ended = await events.next(5_000);

    expect(ended?.event).toBe("error");
    expect(JSON.parse(ended?.data ?? "{}")).toEqual(lapse);
    expect(await events.ended()).toBe(true);
  });
});

describe("an open stream in another isolate", () => {
  it("ends within the 10 s every isolate takes to see a revocation, and one re-check", async () => {
    const tenant = await createTenant("stream-revoked-elsewhere");
    const id = await runningJob("revoked-elsewhere", tenant);
    vi.resetModules();
    // A fresh module graph: its own memoised lookups, as another isolate has.
    const { worker: elsewhere } = await import("../../src/platform/cloudflare/worker");
    const token = await mintToken(tenant);
    const response = await elsewhere.request(
      `${PROXY_ORIGIN}/jobs/${id}/events`,
      withBearer(token),
      env,
      createExecutionContext(),
    );
    const events = eventReader(response);
    expect((await events.next())?.event).toBe("job");

    const revoked = Date.now();
    const revocation = await proxyFetch(
      `/admin/tenants/${tenant.id}/revoke-tokens`,
      asAdmin({ method: "POST" }),
    );
    expect(revocation.status).toBe(200);
    const ended = await events.next(MEMO_TTL_MS + 5_000);

    expect(ended?.event).toBe("error");
    expect(Date.now() - revoked).toBeLessThan(MEMO_TTL_MS + CREDENTIAL_RECHECK_MS + 500);
    expect(await events.ended()).toBe(true);
  });
});

describe("one watcher per running job", () => {
  it("answers 200 concurrent reads from two separately built apps with one upstream call", async () => {
    const id = await runningJob("two-isolates");
    const { worker: first } = await import("../../src/platform/cloudflare/worker");
    vi.resetModules();
    // A fresh module graph: its own memory tier and its own coalescing, as another isolate has.
    const { worker: second } = await import("../../src/platform/cloudflare/worker");
    expect(second).not.toBe(first);

    const reads = Array.from({ length: 200 }, async (_, i) => {
      const ctx = createExecutionContext();
      const response = await (i % 2 ? first : second).request(
        `${PROXY_ORIGIN}/jobs/${id}`,
        acme.auth(),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return response;
    });
    const answers = await Promise.all(reads);

    expect(answers.map((r) => r.status)).toEqual(Array(200).fill(200));
    expect(await upstreamReads(id)).toBe(1);
  });

  it.each([
    ["throws", "throw"],
    ["hangs", "hang"],
  ] as const)(
    "when the watcher %s, reads still answer 200 through the direct path",
    async (_, fault) => {
      const id = await runningJob(`watcher-${fault}`);
      const broken = { ...env, JOB_WATCHER: failingStubs(env.JOB_WATCHER, fault, ["read"]) };

      const response = await proxyFetch(`/jobs/${id}`, acme.auth(), broken);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id, status: "RUNNING" });
      expect(await upstreamReads(id)).toBe(1);
    },
  );
});

describe("GET /jobs/{id}/events", () => {
  it("sends the job at once, then its change, and ends after the terminal event; KV and D1 learn it", async () => {
    const id = await runningJob("stream");
    const response = await openEvents(id);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("text/event-stream");
    const events = eventReader(response);

    const first = await events.next();
    expect(first?.event).toBe("job");
    expect(JSON.parse(first?.data ?? "{}")).toMatchObject({
      id,
      status: "RUNNING",
      urls: { get: `${PROXY_ORIGIN}/jobs/${id}` },
    });
    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 3, result: { total: 1 } });
    const last = await events.next();

    expect(JSON.parse(last?.data ?? "{}")).toMatchObject({ id, status: "COMPLETED", pages: 3 });
    expect(await events.ended()).toBe(true);
    expect(await env.JOB_CACHE.get(`job:${id}`)).toContain('"COMPLETED"');
    const row = await env.DB.prepare("SELECT status, pages FROM jobs WHERE id = ?")
      .bind(id)
      .first();
    expect(row).toEqual({ status: "COMPLETED", pages: 3 });
  });

  it("passes a terminal event of megabytes on whole, however it is cut into chunks", async () => {
    const id = await runningJob("stream-large");
    const events = eventReader(await openEvents(id));
    expect((await events.next())?.event).toBe("job");
    const text = "words ".repeat(400_000);

    await fakeWaveline.updateJob(id, { status: "COMPLETED", pages: 9, result: { text } });
    const last = await events.next();

    expect(JSON.parse(last?.data ?? "{}")).toMatchObject({ status: "COMPLETED", result: { text } });
    expect(await events.ended()).toBe(true);
  });

  it("ends with `event: error` and a code once Waveline has failed for a minute", async () => {
    const id = await runningJob("upstream-gone");
    const events = eventReader(await openEvents(id));
    expect((await events.next())?.event).toBe("job");
    await fakeWaveline.fault({
      match: `/jobs/${id}`,
      mode: "status",
      status: 500,
      body: { error: "Internal error" },
      times: 10_000,
    });
    const before = (await fakeWaveline.calls(`/jobs/${id}`)).length;

    // The minute is the watcher's clock: once it has polled into the failure twice (the first
    // failure is then certainly seen), the clock is moved on by one.
    await vi.waitFor(
      async () => {
        expect((await fakeWaveline.calls(`/jobs/${id}`)).length).toBeGreaterThanOrEqual(before + 2);
      },
      { timeout: 8_000, interval: 100 },
    );
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, "now").mockImplementation(() => realNow() + 61_000);
    const ended = await events.next().finally(() => clock.mockRestore());

    expect(ended?.event).toBe("error");
    expect(JSON.parse(ended?.data ?? "{}")).toEqual({
      error: expect.stringMatching(/\S/),
      code: "upstream_error",
    });
    expect(await events.ended()).toBe(true);
  });

  it("answers a finished job with one event and ends", async () => {
    const id = uniqueJobId("finished");
    await fakeWaveline.createJob({ id, status: "FAILED" });
    await ownJob(acme.id, id, null, "FAILED");

    const events = eventReader(await openEvents(id));

    expect(JSON.parse((await events.next())?.data ?? "{}")).toMatchObject({ status: "FAILED" });
    expect(await events.ended()).toBe(true);
  });

  it("stops polling Waveline once nobody listens", async () => {
    const id = await runningJob("abandoned");
    const events = eventReader(await openEvents(id));
    await events.next();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await upstreamReads(id)).toBeGreaterThan(1);

    await events.cancel();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterHangUp = await upstreamReads(id);
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    expect(await upstreamReads(id)).toBe(afterHangUp);
  });

  it("is a JSON 404 before any stream for a job that is not the caller's", async () => {
    const id = await runningJob("foreign", globex);

    const response = await openEvents(id);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "job not found", code: "job_not_found" });
  });

  it("takes a browser token as ?access_token= and refuses an API key there", async () => {
    const id = await runningJob("query-token");
    const token = await mintToken(acme);

    const withToken = await openEvents(id, {}, `?access_token=${encodeURIComponent(token)}`);
    const withKey = await openEvents(id, {}, `?access_token=${encodeURIComponent(acme.key)}`);

    expect(withToken.status).toBe(200);
    await eventReader(withToken).cancel();
    expect(withKey.status).toBe(400);
    expect(await withKey.json()).toEqual({
      error: "API keys are not accepted in URLs: send them in the Authorization header",
      code: "api_key_in_url",
    });
  });

  it("answers 429 above the tenant's open streams", async () => {
    const tenant = await createTenant("stream-cap");
    const id = await runningJob("cap", tenant);
    const capped = { ...env, STREAMS_PER_TENANT: "1" };

    const open = await proxyStream(`/jobs/${id}/events`, tenant.auth(), capped);
    const refused = await proxyStream(`/jobs/${id}/events`, tenant.auth(), capped);

    expect(open.status).toBe(200);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toBe("10");
    await eventReader(open).cancel();
  });

  it("gives one end user a quarter of the tenant's streams, or the tenant's setting; the others still get theirs", async () => {
    const tenant = await createTenant("stream-shares");
    const capped = { ...env, STREAMS_PER_TENANT: "4" };
    const streamOf = async (subject: string) => {
      const id = await runningJob(`share-${subject}`, tenant);
      await env.DB.prepare("UPDATE jobs SET subject = ? WHERE id = ?").bind(subject, id).run();
      const token = await mintToken(tenant, { sub: subject, scopes: ["jobs:read"] });
      return () => proxyStream(`/jobs/${id}/events`, withBearer(token), capped);
    };
    const noisy = await streamOf("noisy");
    const quiet = await streamOf("quiet");

    const first = await noisy();
    const second = await noisy();
    const quietOne = await quiet();

    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
    expect(await second.json()).toEqual({
      error: "too many open streams: at most 1 per end user, 4 per tenant",
      code: "too_many_streams",
    });
    expect(quietOne.status).toBe(200);

    const patched = await proxyStream(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { endUserStreams: 2 } }, { method: "PATCH" })),
      capped,
    );
    expect(patched.status).toBe(200);
    const third = await noisy();
    expect(third.status).toBe(200);
    for (const open of [first, quietOne, third]) await eventReader(open).cancel();
  });

  it.each([
    ["throws", "throw"],
    ["hangs", "hang"],
  ] as const)(
    "answers 503, never an uncounted stream, when the tenant's limiter %s",
    async (_, fault) => {
      const id = await runningJob(`leases-${fault}`);
      const broken = {
        ...env,
        RATE_LIMITER: failingStubs(env.RATE_LIMITER, fault, ["openStream"]),
      };

      const response = await proxyStream(`/jobs/${id}/events`, acme.auth(), broken);

      expect(response.status).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("5");
      expect(await response.json()).toEqual({
        error: "rate limiter is unavailable, retry later",
        code: "rate_limiter_unavailable",
      });
    },
  );

  it("is documented by the tenant's creation route answers too: created jobs can be watched", async () => {
    const created = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody({ fileName: "watch.txt", contentType: "text/plain", content: "x" })),
    );
    const { id } = (await created.json()) as { id: string };

    const events = eventReader(await openEvents(id, withBearer(acme.key)));

    expect(JSON.parse((await events.next())?.data ?? "{}")).toMatchObject({ id });
    await events.cancel();
  });
});
