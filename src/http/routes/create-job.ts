import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod/mini";
import { checkCreationBody } from "../../core/creation/body";
import { createJob } from "../../core/creation/create";
import { type CreationOutcome, IDEMPOTENCY_KEY_PATTERN } from "../../core/creation/idempotency";
import type { Services } from "../../core/services";
import type { JobKind } from "../../waveline/client";
import type { AppEnv } from "../context";
import { fail } from "../errors";
import { REQUEST_LIMITS } from "../limits";
import { describeRoute, TENANT_AUTH_ERRORS, UPSTREAM_ERRORS } from "../openapi/describe";
import { createdJob } from "../openapi/responses";
import { limitCreations } from "../rate-limit";
import { authenticate } from "../tenant-auth";
import { withWaveline } from "../waveline";
import { proxyJobUrl, throughProxy } from "./job-view";

/** What Waveline expects in a creating POST; the document shows it, Waveline checks it. */
const creationBody = z.looseObject({
  fileName: z.string().check(z.describe("its suffix may guide the extractor")),
  contentType: z.string().check(z.describe("the document's MIME type")),
});

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
    onError: () => fail(413, `request body is larger than ${maxBodyBytes} bytes`),
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
            400: "the body is not a JSON object of at most 64 levels, the `Idempotency-Key` is not 1 to 255 printable ASCII characters, or Waveline refused the body (its message)",
            ...TENANT_AUTH_ERRORS,
            402: "`page budget exhausted`: the tenant's, or the end user's, monthly page budget is used up (`budget` says which, `resetsAt` when it resets, `Retry-After` in seconds); nothing reached Waveline",
            409: "a request with this `Idempotency-Key` is still in progress: retry after `Retry-After`",
            413: "the body is larger than `MAX_BODY_BYTES`",
            422: "this `Idempotency-Key` was used with another body or route, or its job is one this credential may not read (a browser token without `jobs:read`, or whose `jobs` list lacks it): nothing is shown, nothing created",
            ...UPSTREAM_ERRORS,
            502: `${UPSTREAM_ERRORS[502]}; or Waveline created a job the proxy cannot hand out (an unusable id, or one another tenant owns: \`jobId\` in the body, logged as an alert)`,
          },
        },
      ),
      authenticate(services, { scope: "jobs:create" }),
      (c, next) => {
        const key = c.req.header("Idempotency-Key");
        if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
          fail(400, "Idempotency-Key must be 1 to 255 printable ASCII characters");
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
        if (!checked.ok) fail(400, checked.problem);
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
            return fail(409, "a request with this Idempotency-Key is still in progress", {
              "Retry-After": "1",
            });
          case "key-reused":
            return fail(422, "this Idempotency-Key was used with another request body");
          case "replay-not-readable":
            return fail(422, "this Idempotency-Key belongs to a job this credential may not read");
          case "over-budget": {
            const { budget, resetsAt } = result;
            const seconds = Math.max(1, Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000));
            return c.json({ error: "page budget exhausted", budget, resetsAt }, 402, {
              "Retry-After": String(seconds),
            });
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

function answer(c: Context, outcome: CreationOutcome, replayed: boolean): Response {
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
