/**
 * Webhook delivery on Deno: a name is resolved once, delivered to only if every address is
 * public, and connected to at an address it checked. Runs under Deno (webhooks.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ActorCalls } from "../../src/core/objects.ts";
import type { WebhookOutboxActor } from "../../src/core/webhooks/outbox-actor.ts";
import { AddressNotPublicError } from "../../src/core/webhooks/url.ts";
import { openRuntime } from "../../src/platform/deno/runtime.ts";
import { type ResolveAddresses, webhookEgress } from "../../src/platform/deno/webhook-egress.ts";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_KEYS, TEST_WAVELINE_KEY } from "../constants.ts";

const post = (signal?: AbortSignal): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json", "webhook-id": "msg_1" },
  body: '{"type":"job.completed"}',
  signal,
});

/** A resolver that answers from a table and counts what it was asked. */
function fakeResolver(table: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve: ResolveAddresses = async (name) => {
    asked.push(name);
    return table[name] ?? [];
  };
  return { resolve, asked };
}

Deno.test("a name that resolves to a private address is refused, in either family", async () => {
  const { resolve } = fakeResolver({
    "10-0-0-5.sslip.io": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.1"],
    "ula.example.com": ["fd00::1"],
    "mapped.example.com": ["::ffff:10.0.0.5"],
    "metadata.example.com": ["169.254.169.254"],
  });
  const egress = webhookEgress(resolve);
  for (const host of [
    "10-0-0-5.sslip.io:6443",
    "mixed.example.com",
    "ula.example.com",
    "mapped.example.com",
    "metadata.example.com",
  ]) {
    await assert.rejects(
      egress.deliver(`https://${host}/hook`, post(), false),
      AddressNotPublicError,
      host,
    );
  }
  // An address literal is checked as it is, and no name is looked up for it.
  const literal = fakeResolver({});
  await assert.rejects(
    webhookEgress(literal.resolve).deliver("https://[::1]/hook", post(), false),
    AddressNotPublicError,
  );
  assert.deepEqual(literal.asked, []);
});

Deno.test("a name without addresses fails as a refused connection does: no more said", async () => {
  const { resolve } = fakeResolver({});
  const failure = await webhookEgress(resolve)
    .deliver("https://nowhere.example.com/hook", post(), false)
    .catch((err: unknown) => err);
  assert.ok(failure instanceof Error);
  assert.ok(!(failure instanceof AddressNotPublicError));
});

Deno.test("the name is resolved once, and the request goes to the address checked", async () => {
  const seen: { host: string | null; body: string; id: string | null }[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push({
      host: req.headers.get("host"),
      body: await req.text(),
      id: req.headers.get("webhook-id"),
    });
    return new Response("ignored", { status: 429, headers: { "Retry-After": "7" } });
  });
  const { resolve, asked } = fakeResolver({ localhost: ["127.0.0.1"] });
  const url = `http://localhost:${receiver.addr.port}/hook?x=1`;
  const answer = await webhookEgress(resolve).deliver(url, post(), true);
  assert.equal(answer.status, 429);
  assert.equal(answer.headers.get("Retry-After"), "7");
  assert.deepEqual(asked, ["localhost"]);
  assert.deepEqual(seen, [
    { host: `localhost:${receiver.addr.port}`, body: '{"type":"job.completed"}', id: "msg_1" },
  ]);
  // Without WEBHOOKS_ALLOW_LOCAL_URLS, the same URL is refused before any connection.
  await assert.rejects(webhookEgress(resolve).deliver(url, post(), false), AddressNotPublicError);
  assert.equal(seen.length, 1);
  await receiver.shutdown();
});

Deno.test("https: TLS for the URL's name, on the address checked, its certificate verified", async () => {
  // webhooks.test.ts trusts fixtures/test-ca.pem (DENO_CERT), which signed a localhost certificate.
  const fixture = (name: string) =>
    Deno.readTextFileSync(new URL(`fixtures/${name}`, import.meta.url));
  const receiver = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: fixture("localhost.pem"),
      key: fixture("localhost.key"),
      onListen() {},
      onError: () => new Response(null, { status: 500 }),
    },
    () => new Response(null, { status: 204 }),
  );
  const port = receiver.addr.port;
  const egress = webhookEgress(fakeResolver({ localhost: ["127.0.0.1"] }).resolve);
  assert.equal((await egress.deliver(`https://localhost:${port}/`, post(), true)).status, 204);
  // The same server by its address: the certificate does not name it, so nothing is sent.
  await assert.rejects(egress.deliver(`https://127.0.0.1:${port}/`, post(), true), /certificate/);
  await receiver.shutdown();

  // A TLS receiver that never answers is cut at the deadline too.
  const silent = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: fixture("localhost.pem"),
    key: fixture("localhost.key"),
  });
  const accepted = silent.accept();
  const failure = await egress
    .deliver(`https://localhost:${silent.addr.port}/`, post(AbortSignal.timeout(300)), true)
    .catch((err: unknown) => err);
  assert.equal((failure as Error).name, "TimeoutError");
  (await accepted).close();
  silent.close();
});

Deno.test("a receiver that never answers is cut at the deadline, as a timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const failure = await webhookEgress()
    .deliver(`http://127.0.0.1:${listener.addr.port}/`, post(AbortSignal.timeout(200)), true)
    .catch((err: unknown) => err);
  assert.equal((failure as Error).name, "TimeoutError");
  (await accepted).close();
  listener.close();
});

Deno.test("the real resolver: localhost is not public, and the outbox's log says only that", async () => {
  const dir = mkdtempSync(join(tmpdir(), "waveline-webhooks-"));
  const runtime = openRuntime({
    dataDir: dir,
    vars: {
      WAVELINE_API_URL: "http://127.0.0.1:9",
      WAVELINE_API_KEY: TEST_WAVELINE_KEY,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      TOKEN_SIGNING_KEYS: JSON.stringify(TEST_SIGNING_KEYS),
    },
  });
  const services = runtime.services;
  assert.ok(services, "configured");
  const tenant = await services.tenants.createTenant({ name: "acme", allowedOrigins: [] });
  // The actor itself, as the job watchers hand it their events.
  const outbox = services.webhooks?.of(tenant.id) as ActorCalls<WebhookOutboxActor> | undefined;
  assert.ok(outbox);
  const endpoints: { id: string }[] = [];
  // A closed port and an open one on this machine: the log must not tell them apart.
  const open = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  for (const url of ["https://localhost:1/hook", `https://localhost:${open.addr.port}/hook`]) {
    endpoints.push((await outbox.createEndpoint(url, ["job.completed"])) as { id: string });
  }
  await outbox.enqueue(tenant.id, "job.completed", "job-1", "{}");
  const logs = async () =>
    Promise.all(
      endpoints.map(
        async ({ id }) =>
          (
            (await outbox.deliveries(id)) as {
              attempts: number;
              lastError: string | null;
              lastResponseCode: number | null;
            }[]
          )[0],
      ),
    );
  for (let waited = 0; waited < 5000; waited += 50) {
    if ((await logs()).every((log) => (log?.attempts ?? 0) > 0 && log?.lastError)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const log of await logs()) {
    assert.equal(log?.lastError, "address not public");
    assert.equal(log?.lastResponseCode, null);
  }
  open.close();
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

Deno.test("the runtime's outboxes deliver through the resolver it is given", async () => {
  const dir = mkdtempSync(join(tmpdir(), "waveline-webhooks-"));
  const { resolve, asked } = fakeResolver({ "10-0-0-5.sslip.io": ["10.0.0.5"] });
  const runtime = openRuntime({
    dataDir: dir,
    vars: { ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    resolveWebhookHost: resolve,
  });
  const services = runtime.services;
  assert.ok(services, "configured");
  const tenant = await services.tenants.createTenant({ name: "acme", allowedOrigins: [] });
  // The actor itself, as the job watchers hand it their events.
  const outbox = services.webhooks?.of(tenant.id) as ActorCalls<WebhookOutboxActor> | undefined;
  assert.ok(outbox);
  const endpoint = await outbox.createEndpoint("https://10-0-0-5.sslip.io:6443/", [
    "job.completed",
  ]);
  assert.ok(endpoint);
  await outbox.enqueue(tenant.id, "job.completed", "job-1", "{}");
  let delivery: { attempts: number; lastError: string | null } | undefined;
  for (let waited = 0; waited < 5000 && !delivery?.lastError; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    delivery = (await outbox.deliveries(endpoint.id))?.[0];
  }
  assert.equal(delivery?.lastError, "address not public");
  assert.deepEqual(asked, ["10-0-0-5.sslip.io"]);
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});
