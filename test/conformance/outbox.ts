import { MAX_ENDPOINTS } from "../../src/core/webhooks/outbox";
import type { WebhookOutboxActor } from "../../src/core/webhooks/outbox-actor";
import type { WebhookEvent } from "../../src/core/webhooks/payload";
import { type Harness, type Open, uniqueName } from "./harness";

/** Never resolves: a delivery the host's alarm attempts fails, whatever runs the case. */
const URL = "https://receiver.invalid/hooks";

/**
 * A tenant's webhook outbox (`WebhookOutboxActor`) as the webhook routes and the job watchers call
 * it through a runtime's host. The host may run the outbox's alarm while a case runs (workerd
 * does): cases assert what callers see of deliveries (how many, which event and job), not how far
 * their attempts got.
 */
export function outboxConformance({ test, assert }: Harness, open: Open<WebhookOutboxActor>) {
  const outbox = () => {
    const tenantId = uniqueName("outbox");
    return { tenantId, calls: open(tenantId) };
  };
  const payload = (jobId: string) => JSON.stringify({ type: "job.completed", data: { id: jobId } });

  test("outbox: an endpoint is created with its secret, then listed and read without it", async () => {
    const { calls } = outbox();
    assert.deepEqual(await calls.listEndpoints(), []);
    const created = await calls.createEndpoint(URL, [
      "job.completed",
      "job.failed",
      "job.completed",
    ]);
    assert.ok(created);
    if (!created) return;
    const { secret, ...endpoint } = created;
    assert.ok(typeof secret === "string" && secret.length >= 32);
    assert.equal(endpoint.url, URL);
    assert.deepEqual(endpoint.events, ["job.completed", "job.failed"]);
    assert.equal(endpoint.disabled, false);
    assert.ok(Math.abs(Date.parse(endpoint.createdAt) - Date.now()) < 60_000);
    assert.deepEqual(await calls.getEndpoint(endpoint.id), endpoint);
    assert.deepEqual(await calls.listEndpoints(), [endpoint]);
    assert.equal(await calls.getEndpoint("no-such-endpoint"), null);
  });

  // Listed by creation time, then id: endpoints created in the same millisecond come by id.
  test(`outbox: endpoints are listed, at most ${MAX_ENDPOINTS} per tenant, each tenant its own`, async () => {
    const { calls } = outbox();
    const ids: string[] = [];
    for (let i = 0; i < MAX_ENDPOINTS; i++) {
      const created = await calls.createEndpoint(`${URL}/${i}`, ["job.completed"]);
      assert.ok(created);
      ids.push(created?.id ?? "");
    }
    assert.equal(await calls.createEndpoint(URL, ["job.completed"]), null);
    assert.deepEqual(
      (await calls.listEndpoints()).map((endpoint) => endpoint.id).sort(),
      ids.sort(),
    );
    const other = outbox().calls;
    assert.deepEqual(await other.listEndpoints(), []);
    assert.equal(await other.getEndpoint(ids[0] ?? ""), null);
  });

  test("outbox: a rotated secret is new, the old one signing beside it for a day", async () => {
    const { calls } = outbox();
    const created = await calls.createEndpoint(URL, ["job.completed"]);
    const rotated = await calls.rotateSecret(created?.id ?? "");
    assert.ok(rotated);
    assert.ok(rotated?.secret && rotated.secret !== created?.secret);
    const expires = Date.parse(rotated?.previousSecretExpiresAt ?? "");
    assert.ok(Math.abs(expires - (Date.now() + 24 * 60 * 60_000)) < 60_000);
    assert.equal(await calls.rotateSecret("no-such-endpoint"), null);
  });

  test("outbox: a deleted endpoint is gone with its deliveries; deleting it again says so", async () => {
    const { tenantId, calls } = outbox();
    const kept = await calls.createEndpoint(`${URL}/kept`, ["job.completed"]);
    const gone = await calls.createEndpoint(URL, ["job.completed"]);
    const id = gone?.id ?? "";
    await calls.enqueue(tenantId, "job.completed", "job-1", payload("job-1"));
    assert.equal(await calls.deleteEndpoint(id), true);
    assert.equal(await calls.deleteEndpoint(id), false);
    assert.equal(await calls.getEndpoint(id), null);
    assert.equal(await calls.deliveries(id), null);
    assert.deepEqual(
      (await calls.listEndpoints()).map((endpoint) => endpoint.id),
      [kept?.id],
    );
    assert.equal((await calls.deliveries(kept?.id ?? ""))?.length, 1);
  });

  test("outbox: an event is queued once per key and endpoint subscribed to it", async () => {
    const { tenantId, calls } = outbox();
    const completed = await calls.createEndpoint(URL, ["job.completed"]);
    const both = await calls.createEndpoint(`${URL}/both`, ["job.completed", "job.failed"]);
    const budget = await calls.createEndpoint(`${URL}/budget`, ["budget.threshold"]);
    assert.deepEqual(await calls.deliveries(completed?.id ?? ""), []);

    assert.equal(await calls.enqueue(tenantId, "job.completed", "job-1", payload("job-1")), 2);
    assert.equal(await calls.enqueue(tenantId, "job.completed", "job-1", payload("job-1")), 0);
    assert.equal(await calls.enqueue(tenantId, "job.failed", "job-2", payload("job-2")), 1);
    assert.equal(await calls.enqueue(tenantId, "budget.threshold", "alert-1", "{}"), 1);

    const seen = async (id: string | undefined) =>
      ((await calls.deliveries(id ?? "")) ?? [])
        .map((delivery) => `${delivery.event} ${delivery.jobId}`)
        .sort();
    assert.deepEqual(await seen(completed?.id), ["job.completed job-1"]);
    assert.deepEqual(await seen(both?.id), ["job.completed job-1", "job.failed job-2"]);
    assert.deepEqual(await seen(budget?.id), ["budget.threshold null"]);
    const [delivery] = (await calls.deliveries(completed?.id ?? "")) ?? [];
    assert.ok(delivery && ["pending", "cancelled", "failed"].includes(delivery.state));
    assert.ok(delivery && Math.abs(Date.parse(delivery.createdAt) - Date.now()) < 60_000);
  });

  test("outbox: a delivery is sent again on request with its id; unknown ones are not found", async () => {
    const { tenantId, calls } = outbox();
    const endpoint = await calls.createEndpoint(URL, ["job.completed"]);
    const id = endpoint?.id ?? "";
    await calls.enqueue(tenantId, "job.completed", "job-1", payload("job-1"));
    const [delivery] = (await calls.deliveries(id)) ?? [];
    const again = await calls.redeliver(id, delivery?.id ?? "");
    assert.equal(again.kind, "redelivered");
    if (again.kind === "redelivered") {
      assert.equal(again.delivery.id, delivery?.id);
      assert.equal(again.delivery.state, "pending");
    }
    assert.deepEqual(await calls.redeliver(id, "no-such-delivery"), { kind: "not-found" });
    assert.deepEqual(await calls.redeliver("no-such-endpoint", delivery?.id ?? ""), {
      kind: "not-found",
    });
  });

  test("outbox: a tenant without endpoints has no job watched", async () => {
    const { calls } = outbox();
    assert.equal(await calls.watchJob("job-1", "https://proxy.test/v1/jobs/job-1"), false);
  });

  test("outbox: concurrent calls lose no update (20 enqueues of one key queue one delivery)", async () => {
    const { tenantId, calls } = outbox();
    const created = await Promise.all(
      Array.from({ length: MAX_ENDPOINTS + 5 }, (_, i) =>
        calls.createEndpoint(`${URL}/${i}`, ["job.completed"]),
      ),
    );
    assert.equal(created.filter(Boolean).length, MAX_ENDPOINTS);
    assert.equal((await calls.listEndpoints()).length, MAX_ENDPOINTS);

    const queued = await Promise.all(
      Array.from({ length: 20 }, () =>
        calls.enqueue(tenantId, "job.completed", "job-1", payload("job-1")),
      ),
    );
    assert.equal(
      queued.reduce((sum, n) => sum + n, 0),
      MAX_ENDPOINTS,
    );
  });

  test("outbox: arguments are taken when called and answers are copies: changing one changes no later answer", async () => {
    const { calls } = outbox();
    const events: WebhookEvent[] = ["job.completed"];
    const creating = calls.createEndpoint(URL, events);
    // Changed before the call has run: a host that passed the array itself would store this.
    events.push("job.failed");
    const created = await creating;
    assert.deepEqual(created?.events, ["job.completed"]);
    const id = created?.id ?? "";
    const read = await calls.getEndpoint(id);
    read?.events.push("job.failed");
    if (read) read.url = "https://elsewhere.invalid/";
    const listed = await calls.listEndpoints();
    listed[0]?.events.splice(0);
    const again = await calls.getEndpoint(id);
    assert.equal(again?.url, URL);
    assert.deepEqual(again?.events, ["job.completed"]);
  });
}
