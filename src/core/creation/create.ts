import { createdNothing, type JobKind } from "../../waveline/client";
import {
  type CreatedJob,
  isUsableJobId,
  JOB_STATUSES,
  type JobStatus,
} from "../../waveline/schema";
import {
  describeError,
  type ErrorCode,
  ServiceUnavailableError,
  UpstreamError,
  type UpstreamFailure,
} from "../errors";
import type { RequestScope } from "../log";
import type { Services } from "../services";
import type { Principal } from "../tenancy/access";
import type { OwnedJob, RecordResult } from "../tenancy/store";
import { watchForWebhooks } from "../webhooks/watch";
import {
  applicableBudgets,
  type BudgetCheck,
  crossesWarning,
  exhausted,
  type PageBudget,
  remainingAfter,
} from "./budget";
import { inFlightLockMs } from "./deadlines";
import {
  type CreationOutcome,
  idempotencyScope,
  type Ledger,
  mayReplay,
  requestFingerprint,
  routeOfSameBody,
} from "./idempotency";

/** A creation as the caller asked for it: the body is already checked (a JSON object). */
export interface CreationRequest {
  kind: JobKind;
  body: Uint8Array<ArrayBuffer>;
  /** The body's top-level `fileName`, for the job's record. */
  fileName: string;
  idempotencyKey?: string;
  /** The proxy's URL of a job (for its webhooks' `urls.get`). */
  jobUrl(id: string): string;
}

export type CreationResult =
  /** Waveline was called (or its earlier answer is `replayed`): the outcome, billed or not. */
  | { kind: "outcome"; outcome: CreationOutcome; replayed: boolean; pagesLeft?: number }
  | { kind: "in-flight" }
  /** The key was used before for another body, or for this body on `sameBodyOn` (a route). */
  | { kind: "key-reused"; sameBodyOn?: string }
  /** The key's outcome shows a job this caller may not read: neither shown nor created again. */
  | { kind: "replay-not-readable" }
  | { kind: "over-budget"; budget: PageBudget["kind"]; resetsAt: string };

/** A listing shows this much of a job's fileName. */
const MAX_RECORDED_FILE_NAME = 1024;

/**
 * Creates a job for `principal` once. The idempotency key is claimed in the tenant's ledger before
 * Waveline is called, and whatever Waveline answered is the answer for that key from then on. A
 * job Waveline made always reaches its caller and the job store: if the store fails, the ledger
 * holds it and records it later. `giveBack` is called for a replay of an earlier answer alone, so
 * the caller can return the creation it counted: a refusal (over budget, in flight, another
 * body) costs what any creation costs, so a caller who cannot create cannot spin either.
 */
export async function createJob(
  services: Services,
  principal: Principal,
  request: CreationRequest,
  scope: RequestScope,
  giveBack: () => void,
): Promise<CreationResult> {
  const { tenant, subject, pagesPerMonth } = principal;
  const ledger = services.ledgers.of(tenant.id);
  const key =
    request.idempotencyKey === undefined
      ? undefined
      : { scope: idempotencyScope(subject, request.idempotencyKey), claim: crypto.randomUUID() };
  if (key !== undefined) {
    const earlier = await reserve(services, principal, ledger, key, request, scope, giveBack);
    if (earlier) return earlier;
  }
  // Nothing reaches Waveline past a budget: the key is freed.
  const release = async () => {
    if (key !== undefined) await ledger.release(key.scope, key.claim).catch(() => {});
  };
  const endUser = subject === undefined ? undefined : { subject, pagesPerMonth };
  let budgets: BudgetCheck;
  try {
    budgets = await applicableBudgets(services.jobs, tenant, endUser, Date.now());
  } catch (err) {
    await release();
    throw err;
  }
  const over = exhausted(budgets);
  if (over) {
    await release();
    scope.log.annotate({ budgetExhausted: over.kind });
    return { kind: "over-budget", budget: over.kind, resetsAt: budgets.month.end };
  }
  if (key !== undefined && !(await start(ledger, key, scope))) return { kind: "in-flight" };

  const creation = createAndRecord(services, principal, ledger, key, request, scope);
  // The job is billed once Waveline has it: finish recording it even if the caller hangs up.
  scope.waitUntil(creation.catch(() => {}));
  const outcome = await creation;
  if (outcome.kind !== "created") return { kind: "outcome", outcome, replayed: false };
  wakeSettlement(services, scope);
  // Before the 201: a job the caller has heard of is one whose webhook is on its way.
  await watchForWebhooks(
    services,
    tenant.id,
    outcome.job.id,
    request.jobUrl(outcome.job.id),
    scope,
  );
  const pages = typeof outcome.job.pages === "number" ? outcome.job.pages : 0;
  const warned = crossesWarning(budgets, pages);
  if (warned) {
    scope.log.alert("tenant passed 80% of its monthly page budget", {
      tenantId: tenant.id,
      pagesUsed: warned.used + pages,
      pagesPerMonth: warned.pagesPerMonth,
    });
  }
  return { kind: "outcome", outcome, replayed: false, pagesLeft: remainingAfter(budgets, pages) };
}

/**
 * The job's final pages count whether or not anyone reads it: the settler looks for it in
 * Waveline's listing. After the answer: the job is in D1 (or the ledger, which wakes the settler
 * once it has written it there), so a wake that is lost only waits for the next creation's.
 */
function wakeSettlement(services: Services, scope: RequestScope): void {
  if (!services.settlement) return;
  scope.waitUntil(
    services.settlement.wake().catch((err: unknown) => {
      scope.log.warn("settler not woken", { error: describeError(err) });
    }),
  );
}

/** An idempotency key's scope, and this request's claim on it. */
interface ClaimedKey {
  scope: string;
  claim: string;
}

/** Claims the key; when it was claimed before, the result to give instead (and no new job). */
async function reserve(
  services: Services,
  principal: Principal,
  ledger: Ledger,
  key: ClaimedKey,
  request: CreationRequest,
  scope: RequestScope,
  giveBack: () => void,
): Promise<CreationResult | undefined> {
  const { config } = services;
  const lockMs = inFlightLockMs(config.upstreamTimeoutMs);
  const fingerprint = await requestFingerprint(request.kind, request.body);
  let reservation: Awaited<ReturnType<Ledger["reserve"]>>;
  try {
    reservation = await ledger.reserve(
      key.scope,
      fingerprint,
      key.claim,
      lockMs,
      config.idempotencyTtlS * 1000,
    );
  } catch (err) {
    // The claim may have been made all the same (a slow answer): nothing was sent, so free it.
    ledgerUnavailable(ledger, key, scope, err);
  }
  if (reservation.state === "new") return undefined;
  scope.log.annotate({ idempotency: reservation.state });
  if (reservation.state === "in-flight") return { kind: "in-flight" };
  if (reservation.state === "mismatch") {
    return {
      kind: "key-reused",
      sameBodyOn: routeOfSameBody(reservation.fingerprint, fingerprint),
    };
  }
  if (!mayReplay(principal, reservation.outcome)) return { kind: "replay-not-readable" };
  giveBack();
  return { kind: "outcome", outcome: reservation.outcome, replayed: true };
}

/**
 * Marks the claim as started, the last step before Waveline is called: a claim that never got
 * here sent nothing, and its key is free again. False when the claim was given up meanwhile (a
 * retry holds the key now).
 */
async function start(ledger: Ledger, key: ClaimedKey, scope: RequestScope): Promise<boolean> {
  try {
    return await ledger.start(key.scope, key.claim);
  } catch (err) {
    ledgerUnavailable(ledger, key, scope, err);
  }
}

/** The ledger failed or was slow before anything was sent upstream: the claim is freed, 503. */
function ledgerUnavailable(
  ledger: Ledger,
  key: ClaimedKey,
  scope: RequestScope,
  err: unknown,
): never {
  scope.waitUntil(ledger.release(key.scope, key.claim).catch(() => {}));
  scope.log.error("creation ledger unavailable", { error: describeError(err) });
  throw new ServiceUnavailableError(
    "idempotency_unavailable",
    "idempotency keys are unavailable, retry later",
  );
}

/** How an upstream failure is answered again for its key. */
const REPLAYED_STATUS = {
  refused: 400,
  "not-found": 502,
  "bad-answer": 502,
  busy: 503,
  timeout: 504,
} as const;

/** Replayed as a 502, Waveline's 404 of the creating POST is its error, not a missing job. */
const REPLAYED_CODE: Record<UpstreamFailure, ErrorCode> = {
  refused: "upstream_refused",
  "not-found": "upstream_error",
  "bad-answer": "upstream_error",
  busy: "upstream_unavailable",
  timeout: "upstream_timeout",
};

/**
 * Calls Waveline once and makes the job the caller's. Never leaves a created job unrecorded:
 * the job store first, the ledger when it fails; only when both fail is the job handed to an
 * operator.
 */
async function createAndRecord(
  services: Services,
  principal: Principal,
  ledger: Ledger,
  key: ClaimedKey | undefined,
  request: CreationRequest,
  scope: RequestScope,
): Promise<CreationOutcome> {
  const { log } = scope;
  const ttlMs = services.config.idempotencyTtlS * 1000;
  const settle = async (outcome: CreationOutcome) => {
    if (key === undefined) return;
    await ledger.settle(key.scope, outcome, ttlMs).catch((err: unknown) => {
      log.warn("idempotency key not settled", { error: describeError(err) });
    });
  };
  const waveline = services.waveline;
  if (!waveline)
    throw new ServiceUnavailableError(
      "not_configured",
      "proxy is not configured: WAVELINE_API_KEY is missing",
    );

  let created: CreatedJob;
  try {
    scope.count?.("upstreamCalls");
    created = await waveline.createJob(request.kind, request.body, log);
  } catch (err) {
    if (key !== undefined && createdNothing(err)) {
      await ledger.release(key.scope, key.claim).catch((releaseErr: unknown) => {
        log.warn("idempotency key not released", { error: describeError(releaseErr) });
      });
    } else if (err instanceof UpstreamError) {
      await settle({
        kind: "error",
        status: REPLAYED_STATUS[err.failure],
        code: REPLAYED_CODE[err.failure],
        error: err.message,
      });
    }
    throw err;
  }

  const { tenant, subject } = principal;
  if (!isUsableJobId(created.id)) {
    const jobId = created.id.slice(0, 200);
    log.alert("job created with an id the proxy cannot serve", { jobId, tenantId: tenant.id });
    return settled(settle, {
      kind: "error",
      status: 502,
      code: "upstream_job_unusable",
      error: "upstream created a job with an id the proxy cannot serve",
      jobId,
    });
  }

  scope.count?.("jobsCreated");
  const job: OwnedJob = {
    id: created.id,
    tenantId: tenant.id,
    subject: subject ?? null,
    type: typeof created.type === "string" ? created.type : request.kind,
    fileName: (typeof created.fileName === "string" ? created.fileName : request.fileName).slice(
      0,
      MAX_RECORDED_FILE_NAME,
    ),
    createdAt: isoDate(created.createdAt) ?? new Date().toISOString(),
    status: statusOf(created.status),
    pages: typeof created.pages === "number" ? created.pages : 0,
  };
  const outcome: CreationOutcome = { kind: "created", job: created };
  let recorded: RecordResult;
  try {
    recorded = await services.jobs.record(job, { endUserPagesPerMonth: principal.pagesPerMonth });
  } catch (err) {
    log.warn("created job not recorded in D1: the ledger holds it", {
      jobId: job.id,
      error: describeError(err),
    });
    try {
      await ledger.holdUnrecorded(
        job,
        key === undefined ? undefined : { scope: key.scope, outcome, ttlMs },
      );
      return outcome;
    } catch (holdErr) {
      // Nowhere durable: an operator can still give it to its tenant (PUT /admin/jobs/{id}/owner).
      log.alert("job created but not recorded", {
        jobId: job.id,
        tenantId: tenant.id,
        subject: job.subject,
        error: describeError(holdErr),
      });
      return {
        kind: "error",
        status: 502,
        code: "job_not_recorded",
        error: "the job was created but could not be recorded: an operator can give it to you",
        jobId: job.id,
      };
    }
  }
  // A job Waveline answered with pages already has them billed as it is recorded.
  if (recorded === "recorded" && job.pages > 0) scope.count?.("pagesBilled", job.pages);
  if (recorded === "taken") {
    log.alert("job created with an id another tenant owns", { jobId: job.id, tenantId: tenant.id });
    return settled(settle, {
      kind: "error",
      status: 502,
      code: "upstream_job_id_taken",
      error: "upstream created a job whose id is already in use",
      jobId: job.id,
    });
  }
  return settled(settle, outcome);
}

async function settled(
  settle: (outcome: CreationOutcome) => Promise<void>,
  outcome: CreationOutcome,
): Promise<CreationOutcome> {
  await settle(outcome);
  return outcome;
}

function isoDate(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

function statusOf(value: unknown): JobStatus {
  return JOB_STATUSES.includes(value as JobStatus) ? (value as JobStatus) : "CREATED";
}
