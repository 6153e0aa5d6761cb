import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { checkCreationBody } from "../../src/core/creation/body";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  ownJob,
  proxyFetch,
  SEEDED,
  type TestTenant,
} from "./helpers";

/**
 * What a holder of a `jobs:create` credential can send, and what Waveline can hand back, must
 * never cost the isolate every tenant shares, nor give anyone a job they cannot read.
 */

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("hostile-acme");
  globex = await createTenant("hostile-globex");
  await ownJob(acme.id, SEEDED.completed);
});

const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const check = (text: string) => checkCreationBody(encoder.encode(text), 64);

/** `head`, then `unit` until the body is `bytes` long, then `tail`. */
function bodyOf(head: string, unit: string, tail: string, bytes: number): Uint8Array {
  const body = new Uint8Array(bytes);
  const headBytes = encoder.encode(head);
  const unitBytes = encoder.encode(unit);
  const tailBytes = encoder.encode(tail);
  body.set(headBytes, 0);
  let at = headBytes.length;
  while (at + unitBytes.length <= bytes - tailBytes.length) {
    body.set(unitBytes, at);
    at += unitBytes.length;
  }
  body.fill(0x20, at, bytes - tailBytes.length);
  body.set(tailBytes, bytes - tailBytes.length);
  return body;
}

describe("hostile creation bodies", () => {
  it("several concurrent 10 MiB bodies neither crash nor restart the isolate: its memory tier still answers", async () => {
    const first = await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth());
    expect(first.status).toBe(200);
    const size = 10 * MIB - 64;
    const hostile: [string, Uint8Array, string][] = [
      ["deep", bodyOf('{"a":', "[", "", size), "request body nests deeper than 64 levels"],
      ["wide", bodyOf('{"a":[{}', ",{}", "]", size), "request body must be JSON"],
      ["tiny values", bodyOf('{"a":[0', ",0", "]", size), "request body must be JSON"],
      ["long string", bodyOf('{"a":"', "x", '"', size), "request body must be JSON"],
      ["wide array", bodyOf("[{}", ",{}", "]", size), "request body must be a JSON object"],
    ];

    const answers = await Promise.all(
      hostile.map(([, body]) =>
        proxyFetch(
          "/extract-document",
          acme.auth({ method: "POST", body, headers: { "Content-Type": "application/json" } }),
        ),
      ),
    );

    for (const [index, [, , error]] of hostile.entries()) {
      expect(answers[index]?.status).toBe(400);
      expect(await answers[index]?.json()).toEqual({ error, code: "invalid_json" });
    }
    const again = await proxyFetch(`/jobs/${SEEDED.completed}`, acme.auth());
    expect(again.status).toBe(200);
    expect(again.headers.get("X-Cache")).toBe("HIT; tier=memory");
  });

  it("answers a tenant over its creation limit with 429 before reading the body", async () => {
    const tenant = await createTenant("hostile-limited");
    await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ rateLimits: { createsPerMinute: 1 } }, { method: "PATCH" })),
    );
    const document = { fileName: "limited.txt", contentType: "text/plain", content: "x" };
    expect((await proxyFetch("/extract-document", tenant.auth(jsonBody(document)))).status).toBe(
      201,
    );
    // A body that never ends: reading it would hang this request until the test timed out.
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"fileName":"x",'));
      },
    });

    const response = await proxyFetch(
      "/extract-document",
      tenant.auth({
        method: "POST",
        body: endless,
        headers: { "Content-Type": "application/json" },
        duplex: "half",
      } as RequestInit),
    );

    expect(response.status).toBe(429);
  });
});

describe("checkCreationBody", () => {
  it("agrees with JSON.parse on whether a body is valid JSON, an object, and within 64 levels", () => {
    const nests = (value: unknown, depth: number): number =>
      typeof value === "object" && value !== null
        ? Math.max(depth, ...Object.values(value).map((child) => nests(child, depth + 1)))
        : depth - 1;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json({ depthSize: "large" }),
          fc.string(),
          fc.jsonValue().map((value) => `${JSON.stringify(value)} x`),
          fc.jsonValue().map((value) => JSON.stringify(value).slice(0, -1)),
          fc
            .integer({ min: 60, max: 70 })
            .map((depth) => `{"a":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`),
        ),
        (text) => {
          let expected: string | undefined;
          try {
            const parsed: unknown = JSON.parse(text);
            if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
              expected = "request body must be a JSON object";
            } else if (nests(parsed, 1) > 64) {
              expected = "request body nests deeper than 64 levels";
            }
          } catch {
            expected = "request body must be JSON";
          }
          const result = check(text);
          if (expected === undefined) expect(result.ok).toBe(true);
          else if (expected.startsWith("request body nests"))
            expect(result).toEqual({ ok: false, problem: expected });
          else expect(result).toMatchObject({ ok: false });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['{"fileName":"a.pdf","contentType":"x"}', "a.pdf"],
    ['{"nested":{"fileName":"no.pdf"},"fileName":"yes.pdf"}', "yes.pdf"],
    ['{"file\\u004eame":"escaped.pdf"}', "escaped.pdf"],
    ['{"fileName":"caf\\u00e9 \\"q\\".pdf"}', 'café "q".pdf'],
    ['{"fileName":42}', ""],
    ['{"fileName":"a.pdf","fileName":{"x":1}}', ""],
    ['{"contentType":"x"}', ""],
  ])("takes the top-level fileName of %s", (text, fileName) => {
    expect(check(text)).toEqual({ ok: true, fileName });
  });
});

describe("job ids Waveline hands out", () => {
  const documentNamed = (fileName: string) => ({
    fileName,
    contentType: "text/plain",
    content: "x",
  });

  it.each([
    ["a space", "job with space"],
    ["URL-unsafe characters", "a?b#c%d&e=f+g;h"],
    ["unicode", "jöb-€-名前"],
    ["dots", "..."],
  ])("an id with %s is answered with a Location that reads the job", async (_, id) => {
    const fileName = `unsafe-${crypto.randomUUID()}.txt`;
    const uniqueId = `${id} ${crypto.randomUUID().slice(0, 8)}`;
    await fakeWaveline.nextJobId(fileName, uniqueId);

    const created = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody(documentNamed(fileName))),
    );

    expect(created.status).toBe(201);
    const location = created.headers.get("Location") as string;
    const read = await proxyFetch(new URL(location).pathname, acme.auth());
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id: uniqueId, fileName });
  });

  it.each([
    ["..", ".."],
    ["a slash", "a/b"],
    ["a control character", "a\u0007b"],
    ["more than 128 characters", "x".repeat(129)],
  ])("an id that is %s is a 502 with an alert, never a 201", async (_, id) => {
    const fileName = `refused-${crypto.randomUUID()}.txt`;
    await fakeWaveline.nextJobId(fileName, id);

    const created = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody(documentNamed(fileName))),
    );

    expect(created.status).toBe(502);
    expect(await created.json()).toEqual({
      error: "upstream created a job with an id the proxy cannot serve",
      code: "upstream_job_unusable",
      jobId: id.slice(0, 200),
    });
  });

  it("an id another tenant already owns is a 502 with an alert, and stays the first tenant's", async () => {
    const id = `duplicate-${crypto.randomUUID()}`;
    const first = `dup-a-${crypto.randomUUID()}.txt`;
    const second = `dup-b-${crypto.randomUUID()}.txt`;
    await fakeWaveline.nextJobId(first, id);
    await fakeWaveline.nextJobId(second, id);

    const mine = await proxyFetch("/extract-document", acme.auth(jsonBody(documentNamed(first))));
    const theirs = await proxyFetch(
      "/extract-document",
      globex.auth(jsonBody(documentNamed(second), { headers: { "Idempotency-Key": "dup-1" } })),
    );
    const replayed = await proxyFetch(
      "/extract-document",
      globex.auth(jsonBody(documentNamed(second), { headers: { "Idempotency-Key": "dup-1" } })),
    );

    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(502);
    expect(await theirs.json()).toEqual({
      error: "upstream created a job whose id is already in use",
      code: "upstream_job_id_taken",
      jobId: id,
    });
    expect(replayed.status).toBe(502);
    expect(replayed.headers.get("Idempotent-Replayed")).toBe("true");
    const owner = await env.DB.prepare("SELECT tenant_id FROM jobs WHERE id = ?").bind(id).first();
    expect(owner).toEqual({ tenant_id: acme.id });
    expect((await proxyFetch(`/jobs/${encodeURIComponent(id)}`, globex.auth())).status).toBe(404);
  });
});
