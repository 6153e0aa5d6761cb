import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { monthOf } from "../../src/core/creation/budget";
import type { OwnedJob } from "../../src/core/tenancy/store";
import { budgetAlerts } from "../../src/platform/cloudflare/services";
import { resendBudgetAlerts } from "../../src/platform/sql/budget-alerts";
import { sqlJobStore } from "../../src/platform/sql/stores";
import {
  asAdmin,
  createTenant,
  jsonBody,
  mintToken,
  ownJob,
  proxyFetch,
  type TestTenant,
  withBearer,
} from "./helpers";
import { received, receiver, register } from "./webhook-receiver";

/**
 * Alerts where the tenant listens: `budget.threshold` when a tenant's or an end user's monthly
 * page budget passes 80 % and 100 % (once each a month), and `webhook.disabled` when the outbox
 * disables one of the tenant's endpoints, delivered by the tenant's outbox to a real receiver on
 * 127.0.0.1 and verified with the `standardwebhooks` package. The fake Waveline bills a page per
 * 500 words, known at creation; jobs settling are the job store's writes, as the settler, the
 * job watcher and reads make them, with the outboxes as the Worker wires them.
 */

interface Event {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** The events `name` received, each verified with `secret`, once `count` arrived (and a moment more). */
async function eventsAt(name: string, secret: string, count: number): Promise<Event[]> {
  const deadline = Date.now() + 12_000;
  while ((await received(name)).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Anything more that was on its way has arrived by now: exactly `count` is exactly `count`.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const wh = new Webhook(secret);
  return (await received(name)).map(
    (delivery) => wh.verify(delivery.body, delivery.headers) as Event,
  );
}

async function setBudget(tenant: TestTenant, budget: unknown): Promise<void> {
  const response = await proxyFetch(
    `/admin/tenants/${tenant.id}`,
    asAdmin(jsonBody({ budget }, { method: "PATCH" })),
  );
  expect(response.status).toBe(200);
}

const hookName = (label: string) => `${label}-${crypto.randomUUID()}`;

/** The job store as the settler, the watcher and the Worker use it: alerts go to the outboxes. */
const jobStore = () => sqlJobStore(env.DB, undefined, { alerts: budgetAlerts(env) });

const budgetEvents = (events: Event[]) =>
  events
    .filter((event) => event.type === "budget.threshold")
    .map((event) => event.data)
    .sort((a, b) => Number(a.percent) - Number(b.percent));

const TWO_PAGES = Array.from({ length: 1000 }, (_, i) => `word${i}`).join(" ");

describe("budget.threshold", () => {
  it("announces the tenant's 80 % and 100 % once each, however many jobs settle at once", async () => {
    const tenant = await createTenant("alert-concurrent");
    await setBudget(tenant, { pagesPerMonth: 10 });
    const name = hookName("concurrent");
    const endpoint = await register(tenant, name);
    const ids = Array.from(
      { length: 12 },
      (_, i) => `alert-concurrent-${i}-${crypto.randomUUID()}`,
    );
    for (const id of ids) await ownJob(tenant.id, id);

    // Twelve jobs end at once, a page each: each write is its own transaction.
    await Promise.all(ids.map((id) => jobStore().recordProgress(id, "COMPLETED", 1)));
    const events = await eventsAt(name, endpoint.secret, 2);

    expect(events).toHaveLength(2);
    const month = monthOf(Date.now()).name;
    expect(budgetEvents(events)).toEqual([
      { scope: "tenant", percent: 80, month, pagesPerMonth: 10, pagesUsed: expect.any(Number) },
      { scope: "tenant", percent: 100, month, pagesPerMonth: 10, pagesUsed: expect.any(Number) },
    ]);
    const [eighty, hundred] = budgetEvents(events);
    expect(eighty?.pagesUsed).toBeGreaterThanOrEqual(8);
    expect(hundred?.pagesUsed).toBeGreaterThanOrEqual(10);
    const rows = await env.DB.prepare(
      "SELECT percent, notified_at FROM budget_alerts WHERE tenant_id = ? ORDER BY percent",
    )
      .bind(tenant.id)
      .all<{ percent: number; notified_at: string | null }>();
    expect(rows.results.map((row) => [row.percent, row.notified_at !== null])).toEqual([
      [80, true],
      [100, true],
    ]);
    // Every further page this month is announced no more.
    const more = `alert-concurrent-more-${crypto.randomUUID()}`;
    await ownJob(tenant.id, more);
    await jobStore().recordProgress(more, "COMPLETED", 3);
    expect(await eventsAt(name, endpoint.secret, 2)).toHaveLength(2);
  });

  it("passes a threshold when a creation brings its pages, and each is announced at most once", async () => {
    const tenant = await createTenant("alert-created");
    await setBudget(tenant, { pagesPerMonth: 5 });
    const name = hookName("created");
    const endpoint = await register(tenant, name, ["budget.threshold"]);
    const create = () =>
      proxyFetch(
        "/extract-document",
        tenant.auth(
          jsonBody({
            fileName: `alert-${crypto.randomUUID()}.txt`,
            contentType: "text/plain",
            content: TWO_PAGES,
          }),
        ),
      );

    // 2, 4 (80 %), then 6 (100 %): sent together, all are let through the budget check at 0.
    const answers = await Promise.all([create(), create(), create()]);
    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 201]);
    const events = await eventsAt(name, endpoint.secret, 2);

    expect(events.map((event) => event.type)).toEqual(["budget.threshold", "budget.threshold"]);
    expect(budgetEvents(events).map((data) => [data.percent, data.pagesPerMonth])).toEqual([
      [80, 5],
      [100, 5],
    ]);
  });

  it("announces them again for a new month", async () => {
    const tenant = await createTenant("alert-month");
    await setBudget(tenant, { pagesPerMonth: 10 });
    const name = hookName("month");
    const endpoint = await register(tenant, name);
    const now = monthOf(Date.now());
    const next = monthOf(Date.parse(now.end));
    const job = (createdAt: string): OwnedJob => ({
      id: `alert-month-${crypto.randomUUID()}`,
      tenantId: tenant.id,
      subject: null,
      type: "extract-document",
      fileName: "month.txt",
      createdAt,
      status: "COMPLETED",
      pages: 9,
    });

    await jobStore().record(job(new Date().toISOString()));
    await jobStore().record(job(next.start));
    const events = await eventsAt(name, endpoint.secret, 2);

    expect(budgetEvents(events).map((data) => [data.month, data.percent])).toEqual(
      expect.arrayContaining([
        [now.name, 80],
        [next.name, 80],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it("announces an end user's budget with their sub, the tenant's default or their token's own", async () => {
    const tenant = await createTenant("alert-end-user");
    await setBudget(tenant, { endUserPagesPerMonth: 4 });
    const name = hookName("end-user");
    const endpoint = await register(tenant, name);
    const alice = await mintToken(tenant, { sub: "alice", scopes: ["jobs:create"] });
    const bob = await mintToken(tenant, { sub: "bob", scopes: ["jobs:create"], pagesPerMonth: 2 });
    const create = (token: string) =>
      proxyFetch(
        "/extract-document",
        withBearer(
          token,
          jsonBody({
            fileName: `alert-${crypto.randomUUID()}.txt`,
            contentType: "text/plain",
            content: TWO_PAGES,
          }),
        ),
      );

    expect((await create(alice)).status).toBe(201);
    expect((await create(alice)).status).toBe(201);
    expect((await create(bob)).status).toBe(201);
    const events = await eventsAt(name, endpoint.secret, 4);

    const seen = budgetEvents(events).map((data) => [data.scope, data.sub, data.percent]);
    expect(seen.sort()).toEqual(
      [
        ["end_user", "alice", 80],
        ["end_user", "alice", 100],
        ["end_user", "bob", 80],
        ["end_user", "bob", 100],
      ].sort(),
    );
    const bobs = budgetEvents(events).filter((data) => data.sub === "bob");
    expect(bobs.map((data) => data.pagesPerMonth)).toEqual([2, 2]);
    expect(budgetEvents(events).find((data) => data.sub === "alice")?.pagesPerMonth).toBe(4);
    expect(events).toHaveLength(4);
  });

  it("is sent again by the settler when its outbox did not take it at first", async () => {
    const tenant = await createTenant("alert-resent");
    const name = hookName("resent");
    const endpoint = await register(tenant, name);
    const month = monthOf(Date.now()).name;
    // Claimed a minute ago by a write whose outbox call failed: never notified.
    await env.DB.prepare(
      `INSERT INTO budget_alerts (tenant_id, subject, month, percent, pages_per_month, pages_used, created_at)
       VALUES (?, '', ?, 100, 10, 11, ?)`,
    )
      .bind(tenant.id, month, new Date(Date.now() - 60_000).toISOString())
      .run();

    await resendBudgetAlerts(env.DB, budgetAlerts(env));
    await resendBudgetAlerts(env.DB, budgetAlerts(env));

    const events = await eventsAt(name, endpoint.secret, 1);
    expect(budgetEvents(events)).toEqual([
      { scope: "tenant", percent: 100, month, pagesPerMonth: 10, pagesUsed: 11 },
    ]);
    expect(events).toHaveLength(1);
  });

  it("goes only to endpoints that receive it", async () => {
    const tenant = await createTenant("alert-subscribed");
    await setBudget(tenant, { pagesPerMonth: 1 });
    const jobsOnly = hookName("jobs-only");
    const alerts = hookName("alerts");
    await register(tenant, jobsOnly, ["job.completed", "job.failed"]);
    const endpoint = await register(tenant, alerts, ["budget.threshold"]);
    const id = `alert-subscribed-${crypto.randomUUID()}`;
    await ownJob(tenant.id, id);

    await jobStore().recordProgress(id, "COMPLETED", 1);

    expect(await eventsAt(alerts, endpoint.secret, 2)).toHaveLength(2);
    expect(await received(jobsOnly)).toEqual([]);
  });
});

describe("webhook.disabled", () => {
  it("tells the tenant's other endpoints that receive it which endpoint was disabled and why", async () => {
    const tenant = await createTenant("alert-disabled");
    const gone = hookName("gone");
    const watching = hookName("watching");
    const jobsOnly = hookName("disabled-jobs-only");
    await fetch(`${receiver}/__control/hooks/${gone}`, {
      method: "PUT",
      body: JSON.stringify({ responses: [{ status: 410 }] }),
    });
    const goneEndpoint = await register(tenant, gone, ["budget.threshold"]);
    const watcher = await register(tenant, watching, ["webhook.disabled"]);
    await register(tenant, jobsOnly, ["job.completed"]);
    await setBudget(tenant, { pagesPerMonth: 1 });
    const id = `alert-disabled-${crypto.randomUUID()}`;
    await ownJob(tenant.id, id);

    // The budget's alerts go to `gone`, which answers 410 Gone: the outbox disables it.
    await jobStore().recordProgress(id, "COMPLETED", 1);
    const [event, ...more] = await eventsAt(watching, watcher.secret, 1);

    expect(more).toEqual([]);
    expect(event?.type).toBe("webhook.disabled");
    expect(event?.data).toEqual({
      id: goneEndpoint.id,
      url: goneEndpoint.url,
      reason: "the receiver answered 410 Gone",
    });
    const read = await proxyFetch(`/webhooks/${goneEndpoint.id}`, tenant.auth());
    expect(await read.json()).toMatchObject({ disabled: true });
    expect(await received(jobsOnly)).toEqual([]);
    // Its delivery log names no job: the event is the alert's.
    const deliveries = await proxyFetch(`/webhooks/${watcher.id}/deliveries`, tenant.auth());
    expect(((await deliveries.json()) as { items: unknown[] }).items).toEqual([
      expect.objectContaining({ event: "webhook.disabled", jobId: null, state: "delivered" }),
    ]);
  });
});
