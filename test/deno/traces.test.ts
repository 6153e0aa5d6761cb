import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../e2e/test-stack";

/** An OTLP/HTTP JSON attribute: `{ key, value: { stringValue | intValue | boolValue | … } }`. */
interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
interface OtlpSpan {
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
}

/** A local OpenTelemetry collector: keeps every body Deno's exporter posts, byte for byte. */
async function startOtlpReceiver(): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      bodies.push(`${request.url}\n${Buffer.concat(chunks).toString("utf8")}`);
      response.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, bodies, server };
}

function spansOf(bodies: string[]): OtlpSpan[] {
  return bodies
    .filter((body) => body.startsWith("/v1/traces\n"))
    .flatMap((body) => {
      const json = JSON.parse(body.slice(body.indexOf("\n") + 1)) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      return json.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    });
}

/** A span's attributes as plain values (the last one of a key wins, as collectors read them). */
function attributesOf(span: OtlpSpan): Record<string, unknown> {
  return Object.fromEntries(
    span.attributes.map(({ key, value }) => {
      const [kind, raw] = Object.entries(value)[0] ?? [];
      return [key, kind === "intValue" ? Number(raw) : raw];
    }),
  );
}

/**
 * Traces on Deno: its built-in OpenTelemetry (OTEL_DENO=true) exports the span of each request to
 * any OTLP collector, and the proxy adds what only it knows (tenant, route, cache result, upstream
 * call) without a credential anywhere in what leaves the process.
 */
describe("traces on Deno, to a local OTLP receiver", () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let tenantId: string;
  let key: string;

  const call = (path: string, init: RequestInit = {}, credential?: string) => {
    const headers = new Headers(init.headers);
    if (credential) headers.set("Authorization", `Bearer ${credential}`);
    if (init.body) headers.set("Content-Type", "application/json");
    return fetch(`${stack.proxyUrl}${path}`, { ...init, headers });
  };

  /** The server span of the request that answered with this X-Request-Id, once exported. */
  async function serverSpanOf(response: Response): Promise<Record<string, unknown>> {
    const requestId = response.headers.get("X-Request-Id");
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const span = spansOf(receiver.bodies).find(
        (candidate) =>
          candidate.kind === 2 && attributesOf(candidate)["waveline.request_id"] === requestId,
      );
      if (span) return { name: span.name, ...attributesOf(span) };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no server span of request ${requestId} reached the receiver`);
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startTestStack(
      {},
      {
        runtime: "deno",
        processEnv: {
          OTEL_DENO: "true",
          OTEL_SERVICE_NAME: "waveline-proxy",
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          // JSON rather than the default protobuf, so the test reads the spans as they were sent.
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_BSP_SCHEDULE_DELAY: "200",
        },
      },
    );
    const admin = (path: string, body: unknown) =>
      call(path, { method: "POST", body: JSON.stringify(body) }, stack.vars.ADMIN_TOKEN);
    tenantId = ((await (await admin("/admin/tenants", { name: "acme" })).json()) as { id: string })
      .id;
    key = (
      (await (await admin(`/admin/tenants/${tenantId}/keys`, { name: "b" })).json()) as {
        key: string;
      }
    ).key;
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => receiver?.server.close(resolve));
  });

  it("a creation's span names its tenant, route and the upstream call it made", async () => {
    const created = await call(
      "/extract-document",
      {
        method: "POST",
        body: JSON.stringify({
          fileName: "invoice.txt",
          contentType: "text/plain",
          content: "Invoice INV-7, total 12 EUR",
          shape: [{ name: "total", type: "number" }],
        }),
      },
      key,
    );
    expect(created.status).toBe(201);
    expect(await serverSpanOf(created)).toMatchObject({
      name: "POST /extract-document",
      "http.route": "/extract-document",
      "waveline.tenant.id": tenantId,
      "waveline.credential.kind": "api-key",
      "waveline.upstream.called": true,
      "waveline.upstream.call": "POST /extract-document",
      "waveline.upstream.status_code": 201,
    });
  });

  it("a cached read's span says where it was found, and that Waveline was not called", async () => {
    const created = await call(
      "/extract-document",
      {
        method: "POST",
        body: JSON.stringify({
          fileName: "a.txt",
          contentType: "text/plain",
          content: "total 3 EUR",
          shape: [{ name: "total", type: "number" }],
        }),
      },
      key,
    );
    const { id } = (await created.json()) as { id: string };
    let status = "";
    for (let poll = 0; poll < 60 && status !== "COMPLETED"; poll++) {
      status = ((await (await call(`/jobs/${id}`, {}, key)).json()) as { status: string }).status;
      if (status !== "COMPLETED") await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe("COMPLETED");

    const cached = await call(`/jobs/${id}`, {}, key);
    expect(cached.headers.get("X-Cache")).toMatch(/^HIT/);
    const span = await serverSpanOf(cached);
    expect(span).toMatchObject({
      name: "GET /jobs/:id",
      "http.route": "/jobs/:id",
      "waveline.tenant.id": tenantId,
      "waveline.cache": cached.headers.get("X-Cache"),
      "waveline.upstream.called": false,
    });
    expect(span).not.toHaveProperty("waveline.upstream.call");
  });

  it("exports no credential: not the API key, the admin token, nor Waveline's key", async () => {
    // Everything the process exported so far (traces, logs, metrics) after the requests above.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const exported = receiver.bodies.join("\n");
    expect(exported).toContain(tenantId);
    for (const secret of [key, stack.vars.ADMIN_TOKEN, stack.vars.WAVELINE_API_KEY]) {
      expect(secret).toBeTruthy();
      expect(exported).not.toContain(secret);
    }
    expect(exported.toLowerCase()).not.toContain("bearer");
  });

  // A known limit, said in README ("Traces"): Deno records the URL of every request in its own
  // span before the proxy runs, and a second `setAttribute` adds a key beside the first rather
  // than replacing it. So a stream's `?access_token=` reaches the collector in `url.full` and
  // `url.query`, and only the collector can drop them. When Deno stops recording them, this test
  // fails: then README and this test change.
  it("Deno's own span keeps a stream's ?access_token= in url.full and url.query, nothing else does", async () => {
    const minted = await call("/tokens", { method: "POST", body: JSON.stringify({}) }, key);
    const { token } = (await minted.json()) as { token: string };
    const stream = await call(`/jobs/job-none/events?access_token=${encodeURIComponent(token)}`);
    await stream.body?.cancel();
    const deadline = Date.now() + 20_000;
    let ours: OtlpSpan | undefined;
    while (!ours && Date.now() < deadline) {
      ours = spansOf(receiver.bodies).find(
        (candidate) =>
          attributesOf(candidate)["waveline.request_id"] === stream.headers.get("X-Request-Id"),
      );
      if (!ours) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ours).toBeDefined();
    const carrying = (ours as OtlpSpan).attributes
      .filter(({ value }) => JSON.stringify(value).includes(token))
      .map(({ key: name }) => name);
    expect(carrying.sort()).toEqual(["url.full", "url.query"]);
  });
});
