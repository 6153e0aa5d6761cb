import * as z from "zod/mini";

/**
 * The statuses Waveline documents. It may add more (say `QUEUED`): a status the proxy does not
 * know is passed through and treated as not finished, never as a bad answer.
 */
export type JobStatus = "CREATED" | "RUNNING" | "FAILED" | "COMPLETED" | (string & {});
export const JOB_STATUSES: readonly JobStatus[] = ["CREATED", "RUNNING", "FAILED", "COMPLETED"];

/** COMPLETED and FAILED never change again: safe to cache forever. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["COMPLETED", "FAILED"]);

/**
 * The job object of `GET /jobs/{id}` (shared/waveline/jobs-id.md). Loose objects: fields Waveline
 * adds later pass through to clients untouched.
 */
export const jobSchema = z.looseObject({
  id: z.string().check(z.minLength(1)),
  createdAt: z.string(),
  status: z
    .string()
    .check(
      z.minLength(1),
      z.describe("`CREATED`, `RUNNING`, `COMPLETED` or `FAILED`; any other is not finished yet"),
    ),
  type: z.string(),
  pages: z.number(),
  fileName: z.string(),
  result: z.nullable(z.unknown()),
  urls: z.looseObject({ get: z.string() }),
});

export type Job = z.infer<typeof jobSchema>;

/**
 * What the creating POSTs answer. Waveline does not publish it: a job is expected, but only a
 * string id is required; the rest is passed through as sent.
 */
export const createdJobSchema = z.looseObject({
  id: z.string().check(z.minLength(1)),
  urls: z.optional(z.looseObject({ get: z.optional(z.string()) })),
});

export type CreatedJob = z.infer<typeof createdJobSchema>;

/** Waveline's error body; anything else from a failing upstream is treated as having no message. */
export const upstreamErrorSchema = z.object({ error: z.string() });

/** Job ids are UUIDs in practice, but the docs promise no format: accept any URL-safe id. */
export const jobIdSchema = z
  .string()
  .check(
    z.regex(/^[A-Za-z0-9_-]{1,128}$/, "must be 1 to 128 characters of letters, digits, '-' or '_'"),
  );
