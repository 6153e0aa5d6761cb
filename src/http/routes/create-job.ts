import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import * as z from "zod/mini";
import { checkCreationBody } from "../../core/creation/body";
import { createJob } from "../../core/creation/create";
import { type CreationOutcome, IDEMPOTENCY_KEY_PATTERN } from "../../core/creation/idempotency";
import type { ErrorCode } from "../../core/errors";
import type { Services } from "../../core/services";
import type { JobKind } from "../../waveline/client";
import type { AppEnv } from "../context";
import { errorResponse, fail } from "../errors";
import { REQUEST_LIMITS } from "../limits";
import { describeRoute, UPSTREAM_ERRORS } from "../openapi/describe";
import { createdJob } from "../openapi/responses";
import { limitCreations } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { withWaveline } from "../waveline";
import { proxyJobUrl, throughProxy } from "./job-view";

/** What Waveline expects in a creating POST; the document shows it, Waveline checks it. */
const creationBody = z
  .looseObject({
    fileName: z
      .string()
      .check(
        z.minLength(1),
        z.describe("its suffix may guide the extractor"),
        z.meta({ examples: ["invoice.txt"] }),
      ),
    contentType: z
      .string()
      .check(
        z.minLength(1),
        z.describe("the document's MIME type"),
        z.meta({ examples: ["text/plain"] }),
      ),
    content: z.optional(
      z
        .string()
        .check(
          z.describe("the document itself"),
          z.meta({ examples: ["Invoice INV-9, total 12 EUR"] }),
        ),
    ),
  })
  .check(
    z.meta({
      examples: [
        {
          fileName: "invoice.txt",
          contentType: "text/plain",
          content: "Invoice INV-9, total 12 EUR",
        },
      ],
    }),
  );

/**
 * Creating a job bills the tenant, so each creation happens once: an `Idempotency-Key` is claimed
 * in the tenant's ledger before Waveline is called, and whatever Waveline answered is the answer
 * for that key from then on. A job Waveline made always reaches its caller and D1: if D1 fails,
 * the ledger holds it and writes it later; the work goes on if the caller hangs up.
 */
export function jobCreationRoutes(services: Services) {
  const jobCreation = new Hono<AppEnv>();
  const { maxBodyBytes } = services.config;
  // A refused body counts against the creation limit like any other creation.
  const creationBodyLimit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => fail("body_too_large", `request body is larger than ${maxBodyBytes} bytes`),
  });

  for (const kind of ["extract-document", "guess-shape"] satisfies JobKind[]) {
    jobCreation.post(
      `/${kind}`,
      describeRoute(
        globalThis.OPENAPI && {
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
            invalid_json: "the body is not a JSON object of at most 64 levels",
            invalid_idempotency_key:
              "the `Idempotency-Key` is not 1 to 255 printable ASCII characters",
            budget_exhausted:
              "the tenant's, or the end user's, monthly page budget is used up (`budget` says which, `resetsAt` when it resets, `Retry-After` in seconds); nothing reached Waveline",
            idempotency_key_in_flight:
              "a request with this `Idempotency-Key` is still in progress: retry after `Retry-After`",
            body_too_large: "the body is larger than `MAX_BODY_BYTES`",
            idempotency_key_reused:
              "this `Idempotency-Key` was used with another body, or with this body on the other creation route: nothing created",
            idempotency_key_not_readable:
              "this `Idempotency-Key`'s job is one this credential may not read (a browser token without `jobs:read`, or whose `jobs` list lacks it): nothing is shown, nothing created",
            idempotency_unavailable: "the idempotency ledger is unavailable: retry later",
            ...UPSTREAM_ERRORS,
            upstream_job_unusable:
              "Waveline created a job whose id the proxy cannot serve (`jobId` in the body, logged as an alert)",
            upstream_job_id_taken:
              "Waveline created a job whose id another tenant owns (`jobId` in the body, logged as an alert)",
            job_not_recorded:
              "the job was created but could not be recorded: an operator can give it to you (`jobId` in the body)",
            idempotency_outcome_unknown:
              "the first request with this `Idempotency-Key` ended without an answer: a job may exist; the key creates no other",
          },
          // What the first request with a key ended with (Waveline's answer), answered again.
          errorHeaders: {
            "Idempotent-Replayed": [
              "upstream_refused",
              "upstream_error",
              "upstream_unavailable",
              "upstream_timeout",
              "upstream_job_unusable",
              "upstream_job_id_taken",
              "idempotency_outcome_unknown",
            ],
          },
        },
      ),
      authenticate(services, { scope: "jobs:create" }),
      (c, next) => {
        const key = c.req.header("Idempotency-Key");
        if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
          fail(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
          );
        }
        return next();
      },
      withWaveline(services),
      // Before the body is read: a tenant over its limit costs no parsing at all.
      limitCreations(services),
      creationBodyLimit,
      async (c) => {
        const body = new Uint8Array(await c.req.arrayBuffer());
        const checked = checkCreationBody(body, REQUEST_LIMITS.jsonDepth);
        if (!checked.ok) fail("invalid_json", checked.problem);
        const result = await createJob(
          services,
          c.var.principal,
          {
            kind,
            body,
            fileName: checked.fileName,
            idempotencyKey: c.req.header("Idempotency-Key"),
            jobUrl: (id) => proxyJobUrl(c, id),
          },
          c.var.scope,
          c.var.refundCreation,
        );
        switch (result.kind) {
          case "in-flight":
            return fail(
              "idempotency_key_in_flight",
              "a request with this Idempotency-Key is still in progress",
              {
                "Retry-After": "1",
              },
            );
          case "key-reused":
            return fail(
              "idempotency_key_reused",
              result.sameBodyOn === undefined
                ? "this Idempotency-Key was used with another request body"
                : `this Idempotency-Key was used with this same body on POST /${result.sameBodyOn}: a key belongs to one route`,
            );
          case "replay-not-readable":
            return fail(
              "idempotency_key_not_readable",
              "this Idempotency-Key belongs to a job this credential may not read",
            );
          case "over-budget": {
            const { budget, resetsAt } = result;
            const seconds = Math.max(1, Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000));
            return errorResponse(
              c,
              "budget_exhausted",
              "page budget exhausted",
              { "Retry-After": String(seconds) },
              { budget, resetsAt },
            );
          }
          case "outcome": {
            const response = answer(c, result.outcome, result.replayed);
            if (result.pagesLeft !== undefined) {
              response.headers.set("Page-Budget-Remaining", String(result.pagesLeft));
            }
            return response;
          }
        }
      },
    );
  }
  return jobCreation;
}

/** Outcomes stored before errors had codes: a stored status had only one cause each then. */
const STORED_STATUS_CODES = {
  400: "upstream_refused",
  502: "upstream_error",
  503: "upstream_unavailable",
  504: "upstream_timeout",
} as const satisfies Record<number, ErrorCode>;

function answer(c: Context, outcome: CreationOutcome, replayed: boolean): Response {
  const headers: Record<string, string> = replayed ? { "Idempotent-Replayed": "true" } : {};
  if (outcome.kind === "error") {
    const code = outcome.code ?? STORED_STATUS_CODES[outcome.status];
    const body = {
      error: outcome.error,
      code,
      ...(outcome.jobId === undefined ? {} : { jobId: outcome.jobId }),
    };
    return c.json(body, outcome.status, headers);
  }
  const proxied = throughProxy(c, outcome.job);
  return c.json(proxied, 201, { ...headers, Location: proxied.urls.get });
}
