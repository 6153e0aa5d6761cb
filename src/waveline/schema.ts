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
  result: z
    .nullable(z.unknown())
    .check(z.describe("what the job produced; null while there is none")),
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

/**
 * `GET /jobs?count&offset`: every job of the account, newest first, without results. Read only by
 * the settler, never passed through (it shows every tenant's jobs).
 */
export const jobListSchema = z.looseObject({
  items: z.array(
    z.looseObject({
      id: z.string().check(z.minLength(1)),
      createdAt: z.string(),
      status: z.string().check(z.minLength(1)),
      pages: z.number(),
    }),
  ),
});

export type JobList = z.infer<typeof jobListSchema>;

/** Waveline's error body; anything else from a failing upstream is treated as having no message. */
export const upstreamErrorSchema = z.object({ error: z.string() });

/**
 * Job ids are UUIDs in practice, but the contract only promises a string: accept any id of 1 to
 * 128 characters (percent-encoded in every URL) except those that could address another upstream
 * path: `.`, `..`, a `/` or a backslash (a server that decodes `%2F` would see segments), control characters.
 */
export const JOB_ID_RULE =
  "must be 1 to 128 characters, without control characters, '/' or '\\', and not '.' or '..'";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const USABLE_JOB_ID = /^(?!\.\.?$)[^\u0000-\u001f\u007f/\\]{1,128}$/;

export function isUsableJobId(id: string): boolean {
  return USABLE_JOB_ID.test(id);
}

export const jobIdSchema = z.string().check(z.regex(USABLE_JOB_ID, JOB_ID_RULE));
