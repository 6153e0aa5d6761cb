import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod/mini";
import { checkCreationBody } from "../creation/body";
import { applicableBudgets, crossesWarning, exhausted, remainingAfter } from "../creation/budget";
import {
  IDEMPOTENCY_KEY_PATTERN,
  idempotencyScope,
  type Ledger,
  ledgerOf,
  requestFingerprint,
} from "../creation/idempotency";
import type { CreationOutcome } from "../creation/ledger";
import type { HonoEnv } from "../env";
import { withWaveline } from "../http/config";
import { describeError, fail } from "../http/errors";
import { REQUEST_LIMITS } from "../http/limits";
import { rateLimit } from "../http/rate-limit";
import { authenticate } from "../http/tenant-auth";
import { describeRoute, TENANT_AUTH_ERRORS, UPSTREAM_ERRORS } from "../openapi/describe";
import { createdJob } from "../openapi/responses";
import type { OwnedJob, RecordResult } from "../tenancy/store";
import { createdNothing, type JobKind } from "../waveline/client";
import { type CreatedJob, isUsableJobId, JOB_STATUSES, type JobStatus } from "../waveline/schema";
import { throughProxy } from "./job-view";
import { watchForWebhooks } from "./webhooks";

/**
 * Creating a job bills the tenant, so each creation happens once: an `Idempotency-Key` is claimed
 * in the tenant's ledger before Waveline is called, and whatever Waveline answered is the answer
 * for that key from then on. A job Waveline made always reaches its caller and D1: if D1 fails,
 * the ledger holds it and writes it later; the work goes on if the caller hangs up.
 */
export const jobCreation = new Hono<HonoEnv>();

/** What Waveline expects in a creating POST; the document shows it, Waveline checks it. */
const creationBody = z.looseObject({
  fileName: z.string().check(z.describe("its suffix may guide the extractor")),
  contentType: z.string().check(z.describe("the document's MIME type")),
});

/** A listing shows this much of a job's fileName. */
const MAX_RECORDED_FILE_NAME = 1024;

for (const kind of ["extract-document", "guess-shape"] satisfies JobKind[]) {
  jobCreation.post(
    `/${kind}`,
    describeRoute({
      operationId: kind === "extract-document" ? "createExtraction" : "createShapeGuess",
      summary:
        kind === "extract-document"
          ? "Extract structured data from a document"
          : "Guess the shape of a document's data",
      description:
        "Creates a job upstream and records it as the caller's (and the token's `sub`'s). Send an `Idempotency-Key` to retry safely: the same key and body answer the first outcome again (`Idempotent-Replayed: true`) for `IDEMPOTENCY_TTL_S`, without creating or billing another job.",
      tag: "jobs",
      auth: "jobs:create",
      requestHeaders: ["Idempotency-Key"],
      passThroughBody: {
        schema: creationBody,
        description: `Waveline's own \`POST /${kind}\` body, passed through as it is: the proxy checks only that it is a JSON object within \`MAX_BODY_BYTES\` and 64 levels of nesting.`,
      },
      responses: {
        201: {
          description:
            "the new job (expected status `CREATED`), `urls.get` on the proxy; also a replay of an earlier answer for the same `Idempotency-Key`",
          body: createdJob,
          headers: ["Location", "Idempotent-Replayed", "Page-Budget-Remaining"],
        },
      },
      errors: {
        400: "the body is not a JSON object of at most 64 levels, the `Idempotency-Key` is not 1 to 255 printable ASCII characters, or Waveline refused the body (its message)",
        ...TENANT_AUTH_ERRORS,
        402: "`page budget exhausted`: the tenant's, or the end user's, monthly page budget is used up (`budget` says which, `resetsAt` when it resets, `Retry-After` in seconds); nothing reached Waveline",
        409: "a request with this `Idempotency-Key` is still in progress: retry after `Retry-After`",
        413: "the body is larger than `MAX_BODY_BYTES`",
        422: "this `Idempotency-Key` was used with another body or route",
        ...UPSTREAM_ERRORS,
        502: `${UPSTREAM_ERRORS[502]}; or Waveline created a job the proxy cannot hand out (an unusable id, or one another tenant owns: \`jobId\` in the body, logged as an alert)`,
      },
    }),
    authenticate({ scope: "jobs:create" }),
    (c, next) => {
      const key = c.req.header("Idempotency-Key");
      if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
        fail(400, "Idempotency-Key must be 1 to 255 printable ASCII characters");
      }
      return next();
    },
    withWaveline(),
    // Before the body is read: a tenant over its limit costs no parsing at all.
    rateLimit("creates"),
    (c, next) =>
      bodyLimit({
        maxSize: c.get("config").maxBodyBytes,
        onError: (c) => {
          c.get("refundCreation")();
          fail(413, `request body is larger than ${c.get("config").maxBodyBytes} bytes`);
        },
      })(c, next),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const checked = checkCreationBody(body, REQUEST_LIMITS.jsonDepth);
      if (!checked.ok) {
        c.get("refundCreation")();
        fail(400, checked.problem);
      }
      const { tenant, subject, pagesPerMonth } = c.get("principal");
      const ledger = ledgerOf(c.env.CREATION_LEDGER, tenant.id);
      const key = c.req.header("Idempotency-Key");
      const scope = key === undefined ? undefined : idempotencyScope(subject, key);
      if (scope !== undefined) {
        const replay = await claim(c, ledger, scope, await requestFingerprint(kind, body));
        if (replay) return replay;
      }
      // Nothing reaches Waveline past a budget; the key is freed, the creation given back.
      const giveBack = async () => {
        c.get("refundCreation")();
        if (scope !== undefined) await ledger.release(scope).catch(() => {});
      };
      const endUser = subject === undefined ? undefined : { subject, pagesPerMonth };
      const budgets = await applicableBudgets(c.get("jobStore"), tenant, endUser, Date.now()).catch(
        async (err: unknown) => {
          await giveBack();
          throw err;
        },
      );
      const over = exhausted(budgets);
      if (over) {
        await giveBack();
        c.get("log").annotate({ budgetExhausted: over.kind });
        const resetsAt = budgets.month.end;
        const seconds = Math.max(1, Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000));
        return c.json({ error: "page budget exhausted", budget: over.kind, resetsAt }, 402, {
          "Retry-After": String(seconds),
        });
      }

      const creation = createAndRecord(c, ledger, scope, kind, body, checked.fileName);
      // The job is billed once Waveline has it: finish recording it even if the caller hangs up.
      c.executionCtx.waitUntil(creation.catch(() => {}));
      const outcome = await creation;
      // Before the 201: a job the caller has heard of is one whose webhook is on its way.
      if (outcome.kind === "created") await watchForWebhooks(c, outcome.job.id);
      const response = answer(c, outcome, false);
      if (outcome.kind === "created") {
        const pages = typeof outcome.job.pages === "number" ? outcome.job.pages : 0;
        const remaining = remainingAfter(budgets, pages);
        if (remaining !== undefined)
          response.headers.set("Page-Budget-Remaining", String(remaining));
        const warned = crossesWarning(budgets, pages);
        if (warned) {
          c.get("log").alert("tenant passed 80% of its monthly page budget", {
            tenantId: tenant.id,
            pagesUsed: warned.used + pages,
            pagesPerMonth: warned.pagesPerMonth,
          });
        }
      }
      return response;
    },
  );
}

/** Claims the key; when it was claimed before, the answer to give instead (and no new job). */
async function claim(
  c: Context<HonoEnv>,
  ledger: Ledger,
  scope: string,
  fingerprint: string,
): Promise<Response | undefined> {
  const config = c.get("config");
  // Held while the first request can still be running: Waveline's budget plus storage's.
  const lockMs = config.upstreamTimeoutMs + 10_000;
  let reservation: Awaited<ReturnType<Ledger["reserve"]>>;
  try {
    reservation = await ledger.reserve(scope, fingerprint, lockMs, config.idempotencyTtlS * 1000);
  } catch (err) {
    c.get("refundCreation")();
    c.get("log").error("creation ledger unavailable", { error: describeError(err) });
    fail(503, "idempotency keys are unavailable, retry later", { "Retry-After": "5" });
  }
  if (reservation.state === "new") return undefined;
  c.get("refundCreation")();
  c.get("log").annotate({ idempotency: reservation.state });
  if (reservation.state === "in-flight") {
    fail(409, "a request with this Idempotency-Key is still in progress", { "Retry-After": "1" });
  }
  if (reservation.state === "mismatch") {
    fail(422, "this Idempotency-Key was used with another request body");
  }
  return answer(c, reservation.outcome, true);
}

/**
 * Calls Waveline once and makes the job the caller's. Never leaves a created job unrecorded:
 * D1 first, the ledger when D1 fails; only when both fail is the job handed to an operator.
 */
async function createAndRecord(
  c: Context<HonoEnv>,
  ledger: Ledger,
  scope: string | undefined,
  kind: JobKind,
  body: Uint8Array,
  fileName: string,
): Promise<CreationOutcome> {
  const log = c.get("log");
  const ttlMs = c.get("config").idempotencyTtlS * 1000;
  const settle = async (outcome: CreationOutcome) => {
    if (scope === undefined) return;
    await ledger.settle(scope, outcome, ttlMs).catch((err: unknown) => {
      log.warn("idempotency key not settled", { error: describeError(err) });
    });
  };

  let created: CreatedJob;
  try {
    created = await c.get("waveline").createJob(kind, body);
  } catch (err) {
    if (scope !== undefined && createdNothing(err)) {
      await ledger.release(scope).catch((releaseErr: unknown) => {
        log.warn("idempotency key not released", { error: describeError(releaseErr) });
      });
    } else if (err instanceof HTTPException) {
      await settle({
        kind: "error",
        status: err.status as 400 | 502 | 503 | 504,
        error: err.message,
      });
    }
    throw err;
  }

  const { tenant, subject } = c.get("principal");
  if (!isUsableJobId(created.id)) {
    const jobId = created.id.slice(0, 200);
    log.alert("job created with an id the proxy cannot serve", { jobId, tenantId: tenant.id });
    return settled(settle, {
      kind: "error",
      status: 502,
      error: "upstream created a job with an id the proxy cannot serve",
      jobId,
    });
  }

  const job: OwnedJob = {
    id: created.id,
    tenantId: tenant.id,
    subject: subject ?? null,
    type: typeof created.type === "string" ? created.type : kind,
    fileName: (typeof created.fileName === "string" ? created.fileName : fileName).slice(
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
    recorded = await c.get("jobStore").record(job);
  } catch (err) {
    log.warn("created job not recorded in D1: the ledger holds it", {
      jobId: job.id,
      error: describeError(err),
    });
    try {
      await ledger.holdUnrecorded(job, scope === undefined ? undefined : { scope, outcome, ttlMs });
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
        error: "the job was created but could not be recorded: an operator can give it to you",
        jobId: job.id,
      };
    }
  }
  if (recorded === "taken") {
    log.alert("job created with an id another tenant owns", { jobId: job.id, tenantId: tenant.id });
    return settled(settle, {
      kind: "error",
      status: 502,
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

function answer(c: Context<HonoEnv>, outcome: CreationOutcome, replayed: boolean): Response {
  const headers: Record<string, string> = replayed ? { "Idempotent-Replayed": "true" } : {};
  if (outcome.kind === "error") {
    const body =
      outcome.jobId === undefined
        ? { error: outcome.error }
        : { error: outcome.error, jobId: outcome.jobId };
    return c.json(body, outcome.status as ContentfulStatusCode, headers);
  }
  const proxied = throughProxy(c, outcome.job);
  return c.json(proxied, 201, { ...headers, Location: proxied.urls.get });
}

function isoDate(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

function statusOf(value: unknown): JobStatus {
  return JOB_STATUSES.includes(value as JobStatus) ? (value as JobStatus) : "CREATED";
}
