/** The parts of the OpenAPI document that no route owns: its prose, tags, auth schemes and shared headers. */

export const INFO_DESCRIPTION = `An edge proxy for the Waveline Extract API: one Waveline key stays a Worker secret, each tenant sees only its own jobs, browsers use short-lived tokens, and finished jobs are cached at the edge.

The tenant routes are also served under \`/api/v1\`, Waveline's own base path, and listed there too (their operation ids end in \`ApiV1\`): an existing Waveline client only swaps the base URL and the key.

Every error is JSON \`{ "error": string, "code": string }\`: \`error\` is for people, \`code\` for programs (one per cause, listed with each response), and every response carries \`X-Request-Id\`. Tenant routes carry \`RateLimit-Limit\`, \`RateLimit-Remaining\` and \`RateLimit-Reset\` whenever a rate limit applies. Any route may also answer 405 \`method_not_allowed\` (with \`Allow\`) or 500 \`internal_error\`; an unknown path answers 404 \`not_found\`. Answers also carry security headers (\`Content-Security-Policy\`, \`X-Frame-Options\`, \`X-Content-Type-Options\`, \`Referrer-Policy\`, …) and, for origins a tenant lists, CORS headers.`;

export const TAGS = [
  { name: "jobs", description: "The tenant's own jobs: read, list, create" },
  { name: "tokens", description: "Short-lived browser tokens, minted by a tenant's backend" },
  {
    name: "webhooks",
    description:
      "Endpoints that receive `job.completed`, `job.failed`, `budget.threshold` and `webhook.disabled`, signed per Standard Webhooks (the document's `webhooks` shows each body)",
  },
  { name: "service", description: "Health and this reference" },
  { name: "admin: tenants", description: "Operators: tenants, their origins, keys and usage" },
  { name: "admin: jobs", description: "Operators: any job, its owner, the cache" },
  { name: "admin: webhooks", description: "Operators: any tenant's webhook endpoints" },
  {
    name: "admin: audit",
    description: "Operators: every administrative change, who made it, before and after",
  },
];

export const SECURITY_SCHEMES = {
  apiKey: {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (`wlp_…`), for the tenant's backend: every scope, all its jobs.",
  },
  browserToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "A browser token minted with `POST /tokens`: its scopes (`jobs:read`, `jobs:create`), and only its `sub`'s or listed jobs.",
  },
  adminToken: {
    type: "http",
    scheme: "bearer",
    description: "The operators' `ADMIN_TOKEN`.",
  },
};

export const HEADERS = {
  "X-Request-Id": {
    description: "The request's id (yours, if you sent one); every log line of it carries it.",
    required: true,
    schema: { type: "string", example: "3f1c2a9e-7b1d-4c55-9a8e-0f6f1d2b7c11" },
  },
  "RateLimit-Limit": {
    description:
      "Requests a minute the caller may make here: the tenant's limit, or a browser token's end user's share of it. Sent whenever a limit applies.",
    schema: { type: "integer", minimum: 1 },
  },
  "RateLimit-Remaining": {
    description: "Requests left in the current window. Sent whenever a limit applies.",
    schema: { type: "integer", minimum: 0 },
  },
  "RateLimit-Reset": {
    description: "Seconds until the window is full again. Sent whenever a limit applies.",
    schema: { type: "integer", minimum: 0 },
  },
  "X-Cache": {
    description: "Where the answer came from: `HIT; tier=memory|cache|kv`, `MISS` or `BYPASS`.",
    schema: { type: "string", pattern: "^(HIT; tier=(memory|cache|kv)|MISS|BYPASS)$" },
  },
  ETag: {
    description: "Terminal jobs only: a strong tag to send back as `If-None-Match`.",
    schema: { type: "string" },
  },
  "Cache-Control": {
    description:
      "Terminal jobs: `private, no-cache` (a browser keeps them but revalidates with `If-None-Match` on every reuse, so each caller is authorised); running jobs: `no-store`; secrets: `no-store`.",
    schema: { type: "string" },
  },
  "Retry-After": {
    description: "Seconds until trying again is worth it.",
    schema: { type: "integer", minimum: 1 },
  },
  Location: {
    description: "The new job's URL on this proxy, under the mount the caller used.",
    required: true,
    schema: { type: "string", format: "uri" },
  },
  "Page-Budget-Remaining": {
    description:
      "At most this many pages are left this month (UTC) under the tightest page budget that applies (the tenant's, the end user's): this job and the jobs still running count with the pages Waveline has reported so far, so it only goes down as they finish; absent when no budget applies.",
    schema: { type: "integer", minimum: 0 },
  },
  "Idempotent-Replayed": {
    description:
      "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`, a job or an error alike: no job was created by this one.",
    schema: { type: "string", enum: ["true"] },
  },
  "WWW-Authenticate": {
    description: "`Bearer`",
    schema: { type: "string" },
  },
};

export const PARAMETERS = {
  "X-Request-Id": {
    name: "X-Request-Id",
    in: "header",
    required: false,
    description: "Your own id for this request, to correlate logs.",
    schema: { type: "string" },
  },
  "If-None-Match": {
    name: "If-None-Match",
    in: "header",
    required: false,
    description: "An `ETag` from an earlier answer: a 304 without a body when it still matches.",
    schema: { type: "string" },
  },
  "Idempotency-Key": {
    name: "Idempotency-Key",
    in: "header",
    required: false,
    description:
      "1 to 255 printable ASCII characters, new for each job you mean to create (a UUID): a retry with the same key and body never creates a second job. Scoped to your tenant and the token's `sub`.",
    schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x20-\\x7e]{1,255}$" },
  },
  "Cache-Control": {
    name: "Cache-Control",
    in: "header",
    required: false,
    description: "`no-cache` skips the cache, reads Waveline and refreshes the cache.",
    schema: { type: "string" },
  },
};
