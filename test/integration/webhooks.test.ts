import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { WebhookOutboxActor } from "../../src/core/webhooks/outbox-actor";
import { durableObjectSql } from "../../src/platform/cloudflare/object-storage";
import type { WebhookOutbox } from "../../src/platform/cloudflare/objects/webhook-outbox";
import { webhookOutboxServices } from "../../src/platform/cloudflare/services";
import {
  asAdmin,
  createTenant,
  failingDatabase,
  failingStubs,
  jsonBody,
  mintToken,
  PROXY_ORIGIN,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";
import { type Endpoint, type Received, received, receiver, register } from "./webhook-receiver";

/**
 * Webhooks end to end inside workerd: jobs created through the proxy, finished by the fake
 * Waveline (about 3 s), delivered by the tenant's outbox to a real HTTP receiver on 127.0.0.1
 * (dev/webhook-receiver.ts), every delivery verified with the `standardwebhooks` package.
 * The pool sets WEBHOOK_RETRY_DELAYS_S to 0.3 s and allows local receiver URLs.
 */

function hookName(label: string): string {
  return `${label}-${crypto.randomUUID()}`;
}

async function script(
  name: string,
  responses: { status: number; headers?: Record<string, string> }[],
) {
  await fetch(`${receiver}/__control/hooks/${name}`, {
    method: "PUT",
    body: JSON.stringify({ responses }),
  });
}

async function waitForDeliveries(name: string, count: number, timeoutMs = 12_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const deliveries = await received(name);
    if (deliveries.length >= count || Date.now() > deadline) return deliveries;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A job created through the proxy; the fake ends it in about 3 s ("fail" in the name: FAILED). */
async function createJob(tenant: TestTenant, fileName: string): Promise<string> {
  const response = await proxyFetch(
    "/extract-document",
    tenant.auth(jsonBody({ fileName, contentType: "text/plain", content: "Invoice INV-1" })),
  );
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

function verify(secret: string, delivery: Received) {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as {
    type: string;
    timestamp: string;
    data: Record<string, unknown> & { id: string; urls: { get: string } };
  };
}

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("hooked");
  globex = await createTenant("hooked-other");
});

describe("delivery", () => {
  it("delivers a job created through the proxy exactly once, signed, without its result", async () => {
    const name = hookName("once");
    const endpoint = await register(acme, name);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const jobId = await createJob(acme, `once-${name}.txt`);

    const [delivery] = await waitForDeliveries(name, 1);
    expect(delivery).toBeDefined();
    const event = verify(endpoint.secret, delivery as Received);
    expect(event.type).toBe("job.completed");
    expect(event.data).toMatchObject({ id: jobId, status: "COMPLETED" });
    expect(event.data).not.toHaveProperty("result");
    expect(event.data.urls.get).toBe(`${PROXY_ORIGIN}/jobs/${jobId}`);
    expect(delivery?.headers["webhook-id"]).toMatch(/^msg_/);
    expect(delivery?.headers["content-type"]).toBe("application/json");

    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await received(name)).toHaveLength(1);
    const log = await proxyFetch(`/webhooks/${endpoint.id}/deliveries`, acme.auth());
    const text = await log.text();
    expect(text).not.toContain(endpoint.secret.slice(6));
    expect(JSON.parse(text).items).toMatchObject([
      {
        id: delivery?.headers["webhook-id"],
        event: "job.completed",
        jobId,
        state: "delivered",
        attempts: 1,
        lastResponseCode: 200,
        nextAttemptAt: null,
      },
    ]);
  });

  it("retries a failing receiver with the same webhook-id until it answers 2xx", async () => {
    const name = hookName("retry");
    await script(name, [{ status: 500 }, { status: 503 }, { status: 200 }]);
    const endpoint = await register(acme, name);
    await createJob(acme, `retry-${name}.txt`);

    const deliveries = await waitForDeliveries(name, 3);
    expect(deliveries).toHaveLength(3);
    const ids = new Set(deliveries.map((delivery) => delivery.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    for (const delivery of deliveries) verify(endpoint.secret, delivery);

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(name)).toHaveLength(3);
    const log = (await (
      await proxyFetch(`/webhooks/${endpoint.id}/deliveries`, acme.auth())
    ).json()) as {
      items: { state: string; attempts: number }[];
    };
    expect(log.items[0]).toMatchObject({ state: "delivered", attempts: 3 });
  });

  it("gives up after the schedule and sends a failed job as job.failed", async () => {
    const name = hookName("give-up");
    await script(
      name,
      Array.from({ length: 10 }, () => ({ status: 500 })),
    );
    const endpoint = await register(acme, name, ["job.failed"]);
    await createJob(acme, `fail-${name}.txt`);

    // One attempt and three retries (WEBHOOK_RETRY_DELAYS_S lists three).
    const deliveries = await waitForDeliveries(name, 4);
    expect(verify(endpoint.secret, deliveries[0] as Received).type).toBe("job.failed");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await received(name)).toHaveLength(4);
    const log = (await (
      await proxyFetch(`/webhooks/${endpoint.id}/deliveries`, acme.auth())
    ).json()) as {
      items: { id: string; state: string; lastResponseCode: number; lastError: string }[];
    };
    expect(log.items[0]).toMatchObject({
      state: "failed",
      lastResponseCode: 500,
      lastError: "answered 500",
    });

    // Redelivery: the same webhook-id, now answered 200 (the script is spent after 10).
    await script(name, []);
    const redelivered = await proxyFetch(
      `/webhooks/${endpoint.id}/deliveries/${log.items[0]?.id}/redeliver`,
      acme.auth({ method: "POST" }),
    );
    expect(redelivered.status).toBe(200);
    const again = await waitForDeliveries(name, 5);
    expect(again[4]?.headers["webhook-id"]).toBe(log.items[0]?.id);
  });

  it("disables an endpoint that answers 410", async () => {
    const name = hookName("gone");
    await script(name, [{ status: 410 }]);
    const endpoint = await register(acme, name);
    await createJob(acme, `gone-${name}.txt`);

    await waitForDeliveries(name, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(name)).toHaveLength(1);
    const read = await proxyFetch(`/webhooks/${endpoint.id}`, acme.auth());
    expect(await read.json()).toMatchObject({ id: endpoint.id, disabled: true });
  });

  it("signs with the old and the new secret after a rotation", async () => {
    const name = hookName("rotated");
    const endpoint = await register(acme, name);
    const rotation = await proxyFetch(
      `/webhooks/${endpoint.id}/rotate-secret`,
      acme.auth({ method: "POST" }),
    );
    expect(rotation.status).toBe(200);
    const { secret, previousSecretExpiresAt } = (await rotation.json()) as {
      secret: string;
      previousSecretExpiresAt: string;
    };
    expect(secret).not.toBe(endpoint.secret);
    expect(Date.parse(previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    await createJob(acme, `rotated-${name}.txt`);

    const [delivery] = await waitForDeliveries(name, 1);
    expect(delivery?.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(verify(secret, delivery as Received).type).toBe("job.completed");
    expect(verify(endpoint.secret, delivery as Received).type).toBe("job.completed");
  });

  it("sends an endpoint only the events it subscribed to", async () => {
    const tenant = await createTenant("hooks-events");
    const failedOnly = hookName("failed-only");
    const completedOnly = hookName("completed-only");
    await register(tenant, failedOnly, ["job.failed"]);
    await register(tenant, completedOnly, ["job.completed"]);
    await createJob(tenant, `events-${completedOnly}.txt`);

    await waitForDeliveries(completedOnly, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(failedOnly)).toHaveLength(0);
  });

  it("never sends one tenant's jobs to another tenant's endpoint", async () => {
    const acmeHook = hookName("acme-only");
    const globexHook = hookName("globex-only");
    await register(acme, acmeHook);
    const globexEndpoint = await register(globex, globexHook);
    await createJob(globex, `globex-${globexHook}.txt`);

    const delivered = await waitForDeliveries(globexHook, 1);
    verify(globexEndpoint.secret, delivered[0] as Received);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(acmeHook)).toHaveLength(0);
  });
});

describe("when the outbox is down", () => {
  it("still answers the creation 201, and logs an alert: that job's webhook is lost", async () => {
    const logged = vi.spyOn(console, "log");
    const down = {
      ...env,
      WEBHOOK_OUTBOX: failingStubs(env.WEBHOOK_OUTBOX, "throw", ["watchJob"]),
    } as Env;
    const response = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody({ fileName: "outbox-down.txt", contentType: "text/plain", content: "x" })),
      down,
    );
    expect(response.status).toBe(201);
    const alerts = logged.mock.calls
      .map(([line]) => JSON.parse(String(line)) as { level: string; msg: string })
      .filter((line) => line.level === "alert");
    expect(alerts).toMatchObject([{ msg: "job not watched for webhooks" }]);
  });
});

describe("managing endpoints", () => {
  it("answers another tenant's endpoint exactly like a missing one", async () => {
    const endpoint = await register(globex, hookName("private"));
    for (const [method, path] of [
      ["GET", `/webhooks/${endpoint.id}`],
      ["DELETE", `/webhooks/${endpoint.id}`],
      ["POST", `/webhooks/${endpoint.id}/rotate-secret`],
      ["GET", `/webhooks/${endpoint.id}/deliveries`],
      ["POST", `/webhooks/${endpoint.id}/deliveries/msg_x/redeliver`],
    ] as const) {
      const theirs = await proxyFetch(path, acme.auth({ method }));
      const missing = await proxyFetch(
        path.replace(endpoint.id, "ep_missing"),
        acme.auth({ method }),
      );
      expect(theirs.status, path).toBe(404);
      expect(await theirs.text()).toBe(await missing.text());
    }
    const list = (await (await proxyFetch("/webhooks", acme.auth())).json()) as {
      items: Endpoint[];
    };
    expect(list.items.map((item) => item.id)).not.toContain(endpoint.id);
  });

  it("lists, reads and deletes endpoints, never showing a secret again; also under /api/v1", async () => {
    const tenant = await createTenant("hooks-crud");
    const endpoint = await register(tenant, hookName("crud"), ["job.completed"]);
    const list = await proxyFetch("/api/v1/webhooks", tenant.auth());
    const text = await list.text();
    expect(text).not.toContain("whsec_");
    expect(JSON.parse(text)).toEqual({
      items: [
        {
          id: endpoint.id,
          url: endpoint.url,
          events: ["job.completed"],
          disabled: false,
          createdAt: expect.any(String),
        },
      ],
    });
    expect(
      await (await proxyFetch(`/webhooks/${endpoint.id}`, tenant.auth())).text(),
    ).not.toContain("whsec_");
    expect(
      (await proxyFetch(`/webhooks/${endpoint.id}`, tenant.auth({ method: "DELETE" }))).status,
    ).toBe(204);
    expect((await proxyFetch(`/webhooks/${endpoint.id}`, tenant.auth())).status).toBe(404);
  });

  it("refuses a browser token with 403", async () => {
    const token = await mintToken(acme, { scopes: ["jobs:read", "jobs:create"] });
    for (const [path, init] of [
      ["/webhooks", jsonBody({ url: "https://hooks.example.com/x" })],
      ["/webhooks", {}],
    ] as const) {
      const response = await proxyFetch(path, withBearer(token, init));
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({
        error: "this route takes API keys only, not browser tokens",
        code: "api_key_required",
      });
    }
  });

  it("caps endpoints per tenant at 10", async () => {
    const tenant = await createTenant("hooks-cap");
    for (let i = 0; i < 10; i++) await register(tenant, hookName("cap"));
    const response = await proxyFetch(
      "/webhooks",
      tenant.auth(jsonBody({ url: "https://hooks.example.com/eleventh" })),
    );
    expect(response.status).toBe(409);
  });

  it("refuses private, loopback, link-local and metadata URLs without the development switch", async () => {
    const production = { ...env, WEBHOOKS_ALLOW_LOCAL_URLS: "false" } as Env;
    for (const url of [
      `${receiver}/hooks/x`,
      "http://hooks.example.com/x",
      "http://localhost:8080/x",
      "https://localhost/x",
      "https://app.localhost/x",
      "https://127.0.0.1/x",
      "https://2130706433/x",
      "https://10.1.2.3/x",
      "https://192.168.0.10/x",
      "https://172.20.0.1/x",
      "https://100.64.0.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://metadata.google.internal/x",
      "https://[::1]/x",
      "https://[fd00:ec2::254]/x",
      "https://[fe80::1]/x",
      "https://[::ffff:127.0.0.1]/x",
      "https://user:secret@hooks.example.com/x",
      "ftp://hooks.example.com/x",
      "not a url",
    ]) {
      const response = await proxyFetch("/webhooks", acme.auth(jsonBody({ url })), production);
      expect(response.status, url).toBe(400);
      expect((await response.json()) as { error: string }).toMatchObject({
        error: expect.stringMatching(/^url /),
      });
    }
    const fine = await proxyFetch(
      "/webhooks",
      acme.auth(jsonBody({ url: "https://hooks.example.com:8443/waveline" })),
      production,
    );
    expect(fine.status).toBe(201);
    // The switch allows this machine's loopback only, never a private network.
    const privateNet = await proxyFetch(
      "/webhooks",
      acme.auth(jsonBody({ url: "http://10.0.0.1/x" })),
    );
    expect(privateNet.status).toBe(400);
  });

  it("rejects unknown events", async () => {
    const response = await proxyFetch(
      "/webhooks",
      acme.auth(jsonBody({ url: "https://hooks.example.com/x", events: ["job.deleted"] })),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error:
        'events.0 must be one of "job.completed", "job.failed", "budget.threshold", "webhook.disabled"',
      code: "invalid_request",
    });
  });

  it("lets an operator manage any tenant's endpoints", async () => {
    const tenant = await createTenant("hooks-admin");
    const created = await proxyFetch(
      `/admin/tenants/${tenant.id}/webhooks`,
      asAdmin(jsonBody({ url: "https://hooks.example.com/admin" })),
    );
    expect(created.status).toBe(201);
    const endpoint = (await created.json()) as Endpoint;
    const list = await proxyFetch("/webhooks", tenant.auth());
    expect(((await list.json()) as { items: Endpoint[] }).items.map((e) => e.id)).toEqual([
      endpoint.id,
    ]);
    const rotated = await proxyFetch(
      `/admin/tenants/${tenant.id}/webhooks/${endpoint.id}/rotate-secret`,
      asAdmin({ method: "POST" }),
    );
    expect(rotated.status).toBe(200);
    const missing = await proxyFetch("/admin/tenants/tnt_missing/webhooks", asAdmin());
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "tenant not found", code: "tenant_not_found" });
    const noAdmin = await proxyFetch(`/admin/tenants/${tenant.id}/webhooks`, tenant.auth());
    expect(noAdmin.status).toBe(401);
  });
});

describe("after the fact: redeliveries, disabled tenants, jobs given away", () => {
  interface DeliveryLog {
    items: { id: string; state: string; attempts: number; lastError: string | null }[];
  }
  const deliveriesOf = async (tenant: TestTenant, endpointId: string) =>
    (await (
      await proxyFetch(`/admin/tenants/${tenant.id}/webhooks/${endpointId}/deliveries`, asAdmin())
    ).json()) as DeliveryLog;
  const redeliver = (tenant: TestTenant, endpointId: string, deliveryId: string) =>
    proxyFetch(
      `/webhooks/${endpointId}/deliveries/${deliveryId}/redeliver`,
      tenant.auth({ method: "POST" }),
    );

  it("limits redeliveries per endpoint: 429 with Retry-After past 30 in an hour", async () => {
    const tenant = await createTenant("hooks-redeliver-limit");
    const name = hookName("redeliver-limit");
    const endpoint = await register(tenant, name);
    await createJob(tenant, `redeliver-limit-${name}.txt`);
    await waitForDeliveries(name, 1);
    const [delivery] = (await deliveriesOf(tenant, endpoint.id)).items;

    for (let i = 0; i < 30; i++) {
      expect((await redeliver(tenant, endpoint.id, delivery?.id ?? "")).status).toBe(200);
    }
    const refused = await redeliver(tenant, endpoint.id, delivery?.id ?? "");

    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: "at most 30 redeliveries an hour per webhook endpoint",
      code: "too_many_redeliveries",
    });
    const retryAfter = Number(refused.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // An unknown delivery costs nothing and says so, limit or not.
    expect((await redeliver(tenant, endpoint.id, "msg_unknown")).status).toBe(404);
  });

  it("a redelivery is one attempt more: a delivery whose retries were spent fails again after it", async () => {
    const tenant = await createTenant("hooks-redeliver-once");
    const name = hookName("redeliver-once");
    await script(
      name,
      Array.from({ length: 20 }, () => ({ status: 500 })),
    );
    const endpoint = await register(tenant, name);
    await createJob(tenant, `redeliver-once-${name}.txt`);
    // One attempt and three retries (WEBHOOK_RETRY_DELAYS_S lists three), then failed.
    await waitForDeliveries(name, 4);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const [spent] = (await deliveriesOf(tenant, endpoint.id)).items;
    expect(spent).toMatchObject({ state: "failed", attempts: 4 });

    expect((await redeliver(tenant, endpoint.id, spent?.id ?? "")).status).toBe(200);
    await waitForDeliveries(name, 5);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    expect(await received(name)).toHaveLength(5);
    expect((await deliveriesOf(tenant, endpoint.id)).items[0]).toMatchObject({
      state: "failed",
      attempts: 5,
    });
  });

  it("delivers nothing for a disabled tenant: its deliveries are cancelled, and the log says why", async () => {
    const tenant = await createTenant("hooks-disabled");
    const name = hookName("disabled");
    const endpoint = await register(tenant, name);
    await createJob(tenant, `disabled-${name}.txt`);
    const disabled = await proxyFetch(
      `/admin/tenants/${tenant.id}`,
      asAdmin(jsonBody({ disabled: true }, { method: "PATCH" })),
    );
    expect(disabled.status).toBe(200);

    // The job ends about 3 s after its creation; its event is queued, then cancelled.
    const deadline = Date.now() + 12_000;
    let log = await deliveriesOf(tenant, endpoint.id);
    while (log.items[0]?.state !== "cancelled" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      log = await deliveriesOf(tenant, endpoint.id);
    }
    expect(log.items).toMatchObject([
      { state: "cancelled", attempts: 0, lastError: "tenant disabled: not sent" },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(name)).toHaveLength(0);
  });

  it("sends nothing while D1 cannot say whether the tenant is enabled: the due deliveries wait", async () => {
    const tenant = await createTenant("hooks-tenant-unknown");
    const name = hookName("tenant-unknown");
    const endpoint = await register(tenant, name);
    const d1 = failingDatabase(env.DB, (sql) => sql.includes("FROM tenants"));
    const stub = env.WEBHOOK_OUTBOX.get(env.WEBHOOK_OUTBOX.idFromName(tenant.id));
    const result = await runInDurableObject(stub, async (_object: WebhookOutbox, state) => {
      // This object's outbox, over a D1 that cannot read tenants.
      const outbox = new WebhookOutboxActor({
        sql: durableObjectSql(state.storage),
        alarm: state.storage,
        services: webhookOutboxServices({ ...env, DB: d1.db }),
      });
      d1.fail("throw");
      const queued = [
        await outbox.enqueue(tenant.id, "job.completed", "job-tenant-unknown", "{}"),
        await outbox.enqueue(tenant.id, "job.completed", "job-tenant-unknown", "{}"),
      ];
      await outbox.alarm();
      return { queued, deliveries: outbox.deliveries(endpoint.id) };
    });

    // One delivery for the one endpoint, counted as one (not as the rows and index entries
    // SQLite wrote), and none for the same event again.
    expect(result.queued).toEqual([1, 0]);
    const waiting = result.deliveries;
    expect(waiting).toMatchObject([{ state: "pending", attempts: 0 }]);
    expect(Date.parse(waiting?.[0]?.nextAttemptAt ?? "")).toBeGreaterThan(Date.now() + 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(name)).toHaveLength(0);
  });

  it("sends a job's outcome to its owner when it ends, not to the tenant that created it", async () => {
    const creator = await createTenant("hooks-creator");
    const newOwner = await createTenant("hooks-new-owner");
    const creatorHook = hookName("creator");
    const ownerHook = hookName("new-owner");
    await register(creator, creatorHook);
    const ownerEndpoint = await register(newOwner, ownerHook);
    const jobId = await createJob(creator, `given-away-${creatorHook}.txt`);

    const given = await proxyFetch(
      `/admin/jobs/${encodeURIComponent(jobId)}/owner`,
      asAdmin(jsonBody({ tenantId: newOwner.id }, { method: "PUT" })),
    );
    expect(given.status).toBe(200);

    const [delivery] = await waitForDeliveries(ownerHook, 1);
    expect(verify(ownerEndpoint.secret, delivery as Received).data.id).toBe(jobId);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await received(creatorHook)).toHaveLength(0);
  });

  it("sends the outcome to a new owner with endpoints, though its creator had none", async () => {
    const creator = await createTenant("hooks-creator-silent");
    const newOwner = await createTenant("hooks-new-owner-listening");
    const ownerHook = hookName("new-owner-listening");
    await register(newOwner, ownerHook);
    const jobId = await createJob(creator, `given-to-listener-${ownerHook}.txt`);

    const given = await proxyFetch(
      `/admin/jobs/${encodeURIComponent(jobId)}/owner`,
      asAdmin(jsonBody({ tenantId: newOwner.id }, { method: "PUT" })),
    );
    expect(given.status).toBe(200);

    const [delivery] = await waitForDeliveries(ownerHook, 1);
    expect(JSON.parse(delivery?.body ?? "{}")).toMatchObject({ data: { id: jobId } });
  });
});
