import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { creationLedger } from "../../src/core/creation/ledger";
import { STORAGE_TIMEOUT_MS } from "../../src/core/tenancy/guard";
import { durableObjectSql } from "../../src/platform/cloudflare/object-storage";
import type { CreationLedger } from "../../src/platform/cloudflare/objects/creation-ledger";
import { creationLedgerServices } from "../../src/platform/cloudflare/services";
import {
  asAdmin,
  createTenant,
  failingDatabase,
  failingStubs,
  fakeWaveline,
  jsonBody,
  proxyFetch,
  type TestTenant,
} from "./helpers";

/**
 * Once Waveline has made a job, its caller gets it and D1 gets it, whatever D1 does meanwhile.
 * Faults come from the real bindings wrapped (helpers.ts): only the job insert fails.
 */

let acme: TestTenant;
beforeAll(async () => {
  acme = await createTenant("durable");
});

const isJobInsert = (sql: string) => sql.trimStart().startsWith("INSERT INTO jobs");

/** The real D1, whose job inserts alone throw or never answer. */
function jobInsertsFailing(how: "throw" | "hang"): D1Database {
  const database = failingDatabase(env.DB, isJobInsert);
  database.fail(how);
  return database.db;
}

function documentFor(label: string) {
  return {
    fileName: `durable-${label}-${crypto.randomUUID()}.txt`,
    contentType: "text/plain",
    content: "one two three four",
  };
}

function ledgerOf(tenantId: string) {
  return env.CREATION_LEDGER.get(env.CREATION_LEDGER.idFromName(tenantId));
}

async function recordedOwner(jobId: string) {
  return env.DB.prepare("SELECT tenant_id FROM jobs WHERE id = ?").bind(jobId).first<{
    tenant_id: string;
  }>();
}

/** Waits for the ledger's alarm to write held jobs to D1 (it retries from 1 s after the hold). */
async function waitUntilRecorded(jobId: string, withinMs = 8_000) {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await recordedOwner(jobId)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`job ${jobId} never reached D1`);
}

describe("D1 failing while a job is created", () => {
  it.each([
    ["throws", "throw"],
    ["hangs", "hang"],
  ] as const)(
    "D1 %s: 201 with the job; once D1 answers, the job is read, listed and counted",
    async (_, fault) => {
      const document = documentFor(fault);
      const down = { ...env, DB: jobInsertsFailing(fault) };
      const started = Date.now();

      const response = await proxyFetch(
        "/extract-document",
        acme.auth(jsonBody(document, { headers: { "Idempotency-Key": crypto.randomUUID() } })),
        down,
      );

      expect(response.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(STORAGE_TIMEOUT_MS + 2_000);
      const job = (await response.json()) as { id: string };
      expect(
        await runInDurableObject(ledgerOf(acme.id), (ledger: CreationLedger) =>
          ledger.unrecordedJobIds(),
        ),
      ).toContain(job.id);

      await waitUntilRecorded(job.id);
      expect((await proxyFetch(`/jobs/${job.id}`, acme.auth())).status).toBe(200);
      const listing = (await (await proxyFetch("/jobs?count=100", acme.auth())).json()) as {
        items: { id: string; fileName: string }[];
      };
      expect(listing.items).toContainEqual(
        expect.objectContaining({ id: job.id, fileName: document.fileName }),
      );
      const usage = (await (
        await proxyFetch(`/admin/tenants/${acme.id}/usage`, asAdmin())
      ).json()) as { jobsCreated: number };
      expect(usage.jobsCreated).toBeGreaterThanOrEqual(1);
      expect(
        await runInDurableObject(ledgerOf(acme.id), (ledger: CreationLedger) =>
          ledger.unrecordedJobIds(),
        ),
      ).not.toContain(job.id);
    },
  );

  it("replays the held job for its Idempotency-Key", async () => {
    const document = documentFor("replay");
    const key = crypto.randomUUID();
    const down = { ...env, DB: jobInsertsFailing("throw") };
    const init = () => acme.auth(jsonBody(document, { headers: { "Idempotency-Key": key } }));

    const first = await proxyFetch("/extract-document", init(), down);
    const retry = await proxyFetch("/extract-document", init(), down);

    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await retry.json()) as { id: string }).id).toBe(
      ((await first.json()) as { id: string }).id,
    );
    const posts = (await fakeWaveline.calls("/extract-document", document.fileName)).length;
    expect(posts).toBe(1);
  });

  it("keeps a held job while D1 still fails, and writes it once D1 answers", async () => {
    const document = documentFor("retry");
    const down = { ...env, DB: jobInsertsFailing("throw") };
    const response = await proxyFetch("/extract-document", acme.auth(jsonBody(document)), down);
    const { id } = (await response.json()) as { id: string };
    const later = () => Date.now() + 60_000;

    const held = await runInDurableObject(
      ledgerOf(acme.id),
      async (_ledger: CreationLedger, state) => {
        // The test drives the retries itself: no alarm may write the job first.
        await state.storage.deleteAlarm();
        // This object's ledger, over a D1 that still fails.
        const failing = creationLedger({
          sql: durableObjectSql(state.storage),
          alarm: state.storage,
          services: creationLedgerServices({ ...env, DB: jobInsertsFailing("throw") }),
        });
        await failing.recordHeldJobs(later());
        return failing.unrecordedJobIds();
      },
    );
    expect(held).toContain(id);
    expect(await recordedOwner(id)).toBeNull();

    await runInDurableObject(ledgerOf(acme.id), (ledger: CreationLedger) =>
      ledger.recordHeldJobs(later()),
    );
    expect(await recordedOwner(id)).toEqual({ tenant_id: acme.id });
  });

  it("answers 502 with the job id when neither D1 nor the ledger can keep the job", async () => {
    const document = documentFor("nowhere");
    const broken = {
      ...env,
      DB: jobInsertsFailing("throw"),
      CREATION_LEDGER: failingStubs(env.CREATION_LEDGER, "throw", ["holdUnrecorded"]),
    };

    const response = await proxyFetch("/extract-document", acme.auth(jsonBody(document)), broken);

    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: string; jobId: string };
    expect(body.error).toBe(
      "the job was created but could not be recorded: an operator can give it to you",
    );
    const posts = await fakeWaveline.calls("/extract-document", document.fileName);
    expect(posts).toHaveLength(1);
    expect(body.jobId).toEqual(expect.any(String));
    // The operator adopts it, and its owner reads it.
    const adopted = await proxyFetch(
      `/admin/jobs/${body.jobId}/owner`,
      asAdmin(jsonBody({ tenantId: acme.id }, { method: "PUT" })),
    );
    expect(adopted.status).toBeLessThan(300);
    expect((await proxyFetch(`/jobs/${body.jobId}`, acme.auth())).status).toBe(200);
  });

  it("refuses with 503 before calling Waveline when the ledger cannot claim an Idempotency-Key", async () => {
    const document = documentFor("ledger-down");
    const broken = {
      ...env,
      CREATION_LEDGER: failingStubs(env.CREATION_LEDGER, "throw", ["reserve"]),
    };

    const response = await proxyFetch(
      "/extract-document",
      acme.auth(jsonBody(document, { headers: { "Idempotency-Key": "k-1" } })),
      broken,
    );

    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBe("5");
    expect(await fakeWaveline.calls("/extract-document", document.fileName)).toHaveLength(0);
  });
});

describe("a slow ledger", () => {
  const keyed = (document: object, key: string) =>
    acme.auth(jsonBody(document, { headers: { "Idempotency-Key": key } }));

  it("leaves a key free when its claim was made but answered too late: nothing reached Waveline", async () => {
    const document = documentFor("late-claim");
    const key = crypto.randomUUID();
    const late = {
      ...env,
      CREATION_LEDGER: failingStubs(env.CREATION_LEDGER, "late", ["reserve"]),
    };

    const first = await proxyFetch("/extract-document", keyed(document, key), late);
    const retry = await proxyFetch("/extract-document", keyed(document, key));

    expect(first.status).toBe(503);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await fakeWaveline.calls("/extract-document", document.fileName)).toHaveLength(1);
  });

  it("frees a claim that never started once its start window has passed, even if releasing it failed", async () => {
    const document = documentFor("lost-claim");
    const key = crypto.randomUUID();
    const lost = {
      ...env,
      CREATION_LEDGER: failingStubs(
        failingStubs(env.CREATION_LEDGER, "late", ["reserve"]),
        "throw",
        ["release"],
      ),
    };

    expect((await proxyFetch("/extract-document", keyed(document, key), lost)).status).toBe(503);
    const early = await proxyFetch("/extract-document", keyed(document, key));
    await runInDurableObject(ledgerOf(acme.id), (_ledger: CreationLedger, state) => {
      state.storage.sql.exec("UPDATE idempotency_keys SET claimed_at = claimed_at - 60000");
    });
    const later = await proxyFetch("/extract-document", keyed(document, key));

    expect(early.status).toBe(409);
    expect(later.status).toBe(201);
    expect(await fakeWaveline.calls("/extract-document", document.fileName)).toHaveLength(1);
  });

  it("never calls Waveline for a claim it could not mark as started, and frees the key", async () => {
    const document = documentFor("late-start");
    const key = crypto.randomUUID();
    const late = { ...env, CREATION_LEDGER: failingStubs(env.CREATION_LEDGER, "late", ["start"]) };

    const first = await proxyFetch("/extract-document", keyed(document, key), late);
    const retry = await proxyFetch("/extract-document", keyed(document, key));

    expect(first.status).toBe(503);
    expect(retry.status).toBe(201);
    expect(await fakeWaveline.calls("/extract-document", document.fileName)).toHaveLength(1);
  });
});
