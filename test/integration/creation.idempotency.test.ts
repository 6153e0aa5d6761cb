import { beforeAll, describe, expect, it } from "vitest";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";

/**
 * Idempotency-Key on job creation: however often and however concurrently a request is sent
 * with the same key, Waveline creates (and bills) one job. Every test uses a fileName of its own,
 * so the fake's creation count and faults (`bodyIncludes`) belong to that test alone.
 * UPSTREAM_TIMEOUT_MS is 1500 in the test pool.
 */

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("idem-acme");
  globex = await createTenant("idem-globex");
});

function documentFor(label: string) {
  return {
    fileName: `idem-${label}-${crypto.randomUUID()}.txt`,
    contentType: "text/plain",
    content: "Invoice INV-1, total 3 EUR",
  };
}

function create(
  credential: string,
  body: unknown,
  key: string | undefined,
  path = "/extract-document",
) {
  const headers: Record<string, string> = key === undefined ? {} : { "Idempotency-Key": key };
  return proxyFetch(path, withBearer(credential, jsonBody(body, { headers })));
}

const upstreamCreations = async (fileName: string) =>
  (await fakeWaveline.calls("/extract-document", fileName)).filter((c) => c.method === "POST")
    .length;

describe("Idempotency-Key on POST /extract-document and /guess-shape", () => {
  it("creates one job for 5 concurrent and 5 later sends of the same key: 409 only while in flight, then the same job replayed", async () => {
    const document = documentFor("storm");
    const key = crypto.randomUUID();
    // Waveline takes a while, so the first request is still in flight when the others arrive.
    await fakeWaveline.fault({
      match: "/extract-document",
      bodyIncludes: document.fileName,
      mode: "delay",
      delayMs: 800,
      times: 1,
    });

    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () => create(acme.key, document, key)),
    );
    const sequential: Response[] = [];
    for (let i = 0; i < 5; i++) sequential.push(await create(acme.key, document, key));

    expect(concurrent.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const refused of concurrent.filter((r) => r.status === 409)) {
      expect(refused.headers.get("Retry-After")).toBe("1");
      expect(await refused.json()).toEqual({
        error: "a request with this Idempotency-Key is still in progress",
        code: "idempotency_key_in_flight",
      });
    }
    const first = concurrent.find((r) => r.status === 201) as Response;
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    const job = (await first.json()) as { id: string };
    for (const replay of sequential) {
      expect(replay.status).toBe(201);
      expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
      expect(replay.headers.get("Location")).toBe(`${PROXY_ORIGIN}/jobs/${job.id}`);
      expect(await replay.json()).toMatchObject({ id: job.id });
    }
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it("answers 422 for the same key with another body or on the other route, and creates nothing", async () => {
    const document = documentFor("mismatch");
    const key = crypto.randomUUID();
    expect((await create(acme.key, document, key)).status).toBe(201);

    const otherBody = await create(acme.key, { ...document, content: "changed" }, key);
    const otherRoute = await create(acme.key, document, key, "/guess-shape");

    expect(otherBody.status).toBe(422);
    expect(await otherBody.json()).toEqual({
      error: "this Idempotency-Key was used with another request body",
      code: "idempotency_key_reused",
    });
    // The body was the very same: the answer must not say it was another.
    expect(otherRoute.status).toBe(422);
    expect(await otherRoute.json()).toEqual({
      error:
        "this Idempotency-Key was used with this same body on POST /extract-document: a key belongs to one route",
      code: "idempotency_key_reused",
    });
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it("keeps keys apart per tenant and per end user: the same key never returns another's job", async () => {
    const document = documentFor("scopes");
    const key = "order-1234";
    const alice = await mintToken(acme, { sub: "alice", scopes: ["jobs:read", "jobs:create"] });
    const bob = await mintToken(acme, { sub: "bob", scopes: ["jobs:read", "jobs:create"] });

    const answers = [];
    for (const credential of [acme.key, globex.key, alice, bob]) {
      const response = await create(credential, document, key);
      expect(response.status).toBe(201);
      expect(response.headers.get("Idempotent-Replayed")).toBeNull();
      answers.push(((await response.json()) as { id: string }).id);
    }

    expect(new Set(answers).size).toBe(4);
    expect(await upstreamCreations(document.fileName)).toBe(4);
    // Each replays its own.
    const aliceAgain = await create(alice, document, key);
    expect(aliceAgain.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await aliceAgain.json()) as { id: string }).id).toBe(answers[2]);
  });

  it("never replays a job to a credential that may not read it, though the key's scope is shared", async () => {
    const document = documentFor("unreadable-replay");
    const key = crypto.randomUUID();
    const created = await create(acme.key, document, key);
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string };
    // Tokens without `sub` share the API key's scope: each knows the key and the body.
    const createOnly = await mintToken(acme, { scopes: ["jobs:create"] });
    const otherJobsOnly = await mintToken(acme, {
      scopes: ["jobs:read", "jobs:create"],
      jobs: ["some-other-job"],
    });
    const reader = await mintToken(acme, { scopes: ["jobs:read", "jobs:create"] });

    for (const credential of [createOnly, otherJobsOnly]) {
      const refused = await create(credential, document, key);
      expect(refused.status).toBe(422);
      const text = await refused.text();
      expect(JSON.parse(text)).toEqual({
        error: "this Idempotency-Key belongs to a job this credential may not read",
        code: "idempotency_key_not_readable",
      });
      expect(text).not.toContain(job.id);
      expect(refused.headers.get("Location")).toBeNull();
    }
    for (const credential of [reader, acme.key]) {
      const replay = await create(credential, document, key);
      expect(replay.status).toBe(201);
      expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
      expect(((await replay.json()) as { id: string }).id).toBe(job.id);
    }
    // Refused or replayed, nothing was created again.
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it.each([
    ["empty", ""],
    ["256 characters", "k".repeat(256)],
    ["not ASCII", "clé"],
    ["a control character", "a\tb"],
  ])("answers 400 for a key that is %s, without calling upstream", async (_, key) => {
    const document = documentFor("bad-key");

    const response = await create(acme.key, document, key);

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "Idempotency-Key must be 1 to 255 printable ASCII characters",
      code: "invalid_idempotency_key",
    });
    expect(await upstreamCreations(document.fileName)).toBe(0);
  });

  it("accepts a key of 255 printable characters", async () => {
    const response = await create(acme.key, documentFor("long-key"), `${"k".repeat(254)}~`);

    expect(response.status).toBe(201);
  });

  it("replays an unknown outcome (Waveline timed out after the request was sent) instead of risking a second job", async () => {
    const document = documentFor("timeout");
    const key = crypto.randomUUID();
    await fakeWaveline.fault({
      match: "/extract-document",
      bodyIncludes: document.fileName,
      mode: "hang",
      times: 1,
    });

    const first = await create(acme.key, document, key);
    const retry = await create(acme.key, document, key);

    expect(first.status).toBe(504);
    expect(retry.status).toBe(504);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await retry.json()).toEqual(await first.json());
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it("lets a retry create the job when Waveline refused the first request (429: nothing was created)", async () => {
    const document = documentFor("busy");
    const key = crypto.randomUUID();
    await fakeWaveline.fault({
      match: "/extract-document",
      bodyIncludes: document.fileName,
      mode: "status",
      status: 429,
      headers: { "Retry-After": "2" },
      body: { error: "Too many requests" },
      times: 1,
    });

    const first = await create(acme.key, document, key);
    const retry = await create(acme.key, document, key);

    expect(first.status).toBe(503);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await upstreamCreations(document.fileName)).toBe(2);
  });

  it("keeps the key for any other 4xx from Waveline: only its 401, 403, 404 and 429 say nothing was made", async () => {
    const document = documentFor("conflict");
    const key = crypto.randomUUID();
    await fakeWaveline.fault({
      match: "/extract-document",
      bodyIncludes: document.fileName,
      mode: "status",
      status: 409,
      body: { error: "Conflict" },
      times: 1,
    });

    const first = await create(acme.key, document, key);
    const retry = await create(acme.key, document, key);

    expect(first.status).toBe(502);
    expect(retry.status).toBe(502);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it.each([
    ["Waveline refused the body (its 400)", 400, "upstream_refused"],
    ["Waveline made a job the proxy cannot serve", 502, "upstream_job_unusable"],
  ])("answers an error again, marked as replayed, when %s", async (label, status, code) => {
    const document = documentFor("replayed-error");
    const key = crypto.randomUUID();
    if (status === 400) {
      await fakeWaveline.fault({
        match: "/extract-document",
        bodyIncludes: document.fileName,
        mode: "status",
        status: 400,
        body: { error: "contentType is not supported" },
        times: 1,
      });
    } else {
      await fakeWaveline.nextJobId(document.fileName, "a/b");
    }

    const first = await create(acme.key, document, key);
    const retry = await create(acme.key, document, key);

    expect(first.status, label).toBe(status);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    expect(retry.status).toBe(status);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    const body = await retry.json();
    expect(body).toEqual(await first.json());
    expect(body).toMatchObject({ code });
    expect(await upstreamCreations(document.fileName)).toBe(1);
  });

  it("spends no creation budget on replays", async () => {
    const tenant = await createTenant("idem-budget");
    const limited = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { createsPerMinute: 2 } }, { method: "PATCH" })),
    );
    expect(limited.status).toBe(200);
    const document = documentFor("budget");
    const key = crypto.randomUUID();

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await create(tenant.key, document, key)).status);
    const second = await create(tenant.key, documentFor("budget-2"), crypto.randomUUID());
    const third = await create(tenant.key, documentFor("budget-3"), crypto.randomUUID());

    expect(statuses).toEqual([201, 201, 201, 201]);
    expect(second.status).toBe(201);
    expect(third.status).toBe(429);
  });

  it("creates a job for every request without a key, as before", async () => {
    const document = documentFor("no-key");

    const first = await create(acme.key, document, undefined);
    const second = await create(acme.key, document, undefined);

    expect([first.status, second.status]).toEqual([201, 201]);
    expect(await upstreamCreations(document.fileName)).toBe(2);
  });
});
