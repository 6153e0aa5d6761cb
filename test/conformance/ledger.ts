import type { CreationOutcome } from "../../src/core/creation/idempotency";
import type { CreationLedger } from "../../src/core/creation/ledger";
import type { OwnedJob } from "../../src/core/tenancy/store";
import { type Harness, type Open, sleep, uniqueName } from "./harness";

const LOCK_MS = 60_000;
const TTL_MS = 24 * 60 * 60_000;

/**
 * A tenant's creation ledger (`creationLedger`) as job creation calls it through a runtime's
 * host: idempotency keys claimed, started, settled, replayed and released, and jobs held until
 * the job store takes them. The host's job store may record a held job a second after it is held
 * (workerd's alarm does): cases read the held list at once.
 */
export function ledgerConformance({ test, assert }: Harness, open: Open<CreationLedger>) {
  const ledger = () => open(uniqueName("ledger"));
  const created = (id: string): CreationOutcome => ({
    kind: "created",
    job: { id, urls: { get: `https://waveline.test/jobs/${id}` }, status: "CREATED" },
  });
  const job = (tenantId: string, id = uniqueName("job")): OwnedJob => ({
    id,
    tenantId,
    subject: null,
    type: "invoice",
    fileName: "a.pdf",
    createdAt: new Date().toISOString(),
    status: "CREATED",
    pages: 0,
  });

  test("ledger: reserve, start, settle, then every reserve with the same body replays the outcome", async () => {
    const tenant = ledger();
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS), {
      state: "new",
    });
    assert.equal(await tenant.start("key-1", "claim-1"), true);
    await tenant.settle("key-1", created("job-1"), TTL_MS);
    for (const claim of ["claim-2", "claim-3"]) {
      assert.deepEqual(await tenant.reserve("key-1", "fp-a", claim, LOCK_MS, TTL_MS), {
        state: "replay",
        outcome: created("job-1"),
      });
    }
    // A settled claim starts no more: its answer is the stored one.
    assert.equal(await tenant.start("key-1", "claim-1"), false);
  });

  test("ledger: a key used with another body is a mismatch naming the first body's fingerprint", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    assert.deepEqual(await tenant.reserve("key-1", "fp-b", "claim-2", LOCK_MS, TTL_MS), {
      state: "mismatch",
      fingerprint: "fp-a",
    });
    await tenant.settle("key-1", created("job-1"), TTL_MS);
    assert.deepEqual(await tenant.reserve("key-1", "fp-b", "claim-2", LOCK_MS, TTL_MS), {
      state: "mismatch",
      fingerprint: "fp-a",
    });
  });

  test("ledger: a second claim of a running key is in flight, started or not, and cannot start it", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS), {
      state: "in-flight",
    });
    assert.equal(await tenant.start("key-1", "claim-2"), false);
    assert.equal(await tenant.start("key-1", "claim-1"), true);
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS), {
      state: "in-flight",
    });
    assert.equal(await tenant.start("never-claimed", "claim-1"), false);
  });

  test("ledger: a started claim that outlives its lock becomes an unknown outcome, replayed from then on", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", 50, TTL_MS);
    assert.equal(await tenant.start("key-1", "claim-1"), true);
    await sleep(150);
    const lost = await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS);
    assert.equal(lost.state, "replay");
    const outcome = lost.state === "replay" ? lost.outcome : undefined;
    assert.equal(outcome?.kind, "error");
    assert.equal(outcome?.kind === "error" && outcome.status, 502);
    assert.equal(outcome?.kind === "error" && outcome.code, "idempotency_outcome_unknown");
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-3", LOCK_MS, TTL_MS), lost);
  });

  test("ledger: release frees only the claim that holds the key, and only while unsettled", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    await tenant.release("key-1", "claim-2");
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS), {
      state: "in-flight",
    });
    await tenant.release("key-1", "claim-1");
    assert.deepEqual(await tenant.reserve("key-1", "fp-b", "claim-2", LOCK_MS, TTL_MS), {
      state: "new",
    });
    await tenant.settle("key-1", created("job-2"), TTL_MS);
    await tenant.release("key-1", "claim-2");
    assert.equal(
      (await tenant.reserve("key-1", "fp-b", "claim-3", LOCK_MS, TTL_MS)).state,
      "replay",
    );
  });

  test("ledger: a settled key is forgotten once its time to live has passed", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    await tenant.settle("key-1", created("job-1"), 50);
    await sleep(150);
    assert.deepEqual(await tenant.reserve("key-1", "fp-b", "claim-2", LOCK_MS, TTL_MS), {
      state: "new",
    });
  });

  test("ledger: keys belong to their scope and their ledger", async () => {
    const tenant = ledger();
    await tenant.reserve("tenant/sub:a/key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    assert.equal(
      (await tenant.reserve("tenant/sub:b/key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS)).state,
      "new",
    );
    assert.equal(
      (await ledger().reserve("tenant/sub:a/key-1", "fp-a", "claim-3", LOCK_MS, TTL_MS)).state,
      "new",
    );
  });

  test("ledger: a held job is listed until recorded, once however often held, and settles its key in the same call", async () => {
    const name = uniqueName("ledger");
    const tenant = open(name);
    assert.deepEqual(await tenant.unrecordedJobIds(), []);
    const held = job(name, "job-b");
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    await tenant.holdUnrecorded(held, {
      scope: "key-1",
      outcome: created("job-b"),
      ttlMs: TTL_MS,
    });
    await tenant.holdUnrecorded(held);
    await tenant.holdUnrecorded(job(name, "job-a"));
    assert.deepEqual(await tenant.unrecordedJobIds(), ["job-a", "job-b"]);
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS), {
      state: "replay",
      outcome: created("job-b"),
    });
    assert.deepEqual(await ledger().unrecordedJobIds(), []);
  });

  test("ledger: a replayed job too large to keep is answered as its id and link", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    const large: CreationOutcome = {
      kind: "created",
      job: { id: "job-large", result: "x".repeat(70 * 1024) },
    };
    await tenant.settle("key-1", large, TTL_MS);
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS), {
      state: "replay",
      outcome: { kind: "created", job: { id: "job-large" } },
    });
  });

  test("ledger: of 20 concurrent claims of one key exactly one is new", async () => {
    const tenant = ledger();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        tenant.reserve("key-1", "fp-a", `claim-${i}`, LOCK_MS, TTL_MS),
      ),
    );
    assert.equal(answers.filter((answer) => answer.state === "new").length, 1);
    assert.equal(answers.filter((answer) => answer.state === "in-flight").length, 19);
    const started = await Promise.all(
      Array.from({ length: 20 }, (_, i) => tenant.start("key-1", `claim-${i}`)),
    );
    assert.equal(started.filter(Boolean).length, 1);
  });

  test("ledger: arguments are taken when called and answers are copies: changing one changes no later answer", async () => {
    const tenant = ledger();
    await tenant.reserve("key-1", "fp-a", "claim-1", LOCK_MS, TTL_MS);
    const outcome = created("job-1");
    const settling = tenant.settle("key-1", outcome, TTL_MS);
    // Changed before the call has run: a host that passed the object itself would store this.
    if (outcome.kind === "created") outcome.job.id = "changed-after-calling";
    await settling;
    const first = await tenant.reserve("key-1", "fp-a", "claim-2", LOCK_MS, TTL_MS);
    if (first.state === "replay" && first.outcome.kind === "created")
      first.outcome.job.id = "changed";
    assert.deepEqual(await tenant.reserve("key-1", "fp-a", "claim-3", LOCK_MS, TTL_MS), {
      state: "replay",
      outcome: created("job-1"),
    });
    const ids = await tenant.unrecordedJobIds();
    ids.push("job-x");
    assert.deepEqual(await tenant.unrecordedJobIds(), []);
  });
}
