/**
 * `npm run admin -- <command>`: the operator's CLI over the proxy's admin API (`/admin/*`), for a
 * local `npm run dev` or a deployed proxy. `npm run admin -- --help` lists the commands.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";

const DEFAULT_URL = "http://127.0.0.1:8787";
const TIMEOUT_MS = 30_000;

const USAGE = `Operator CLI for the Waveline edge proxy's admin API.

Usage: npm run admin -- <command> [arguments] [--url URL] [--json]

Tenants
  tenants list                                      all tenants, oldest first (fetched 50 at a time)
  tenants create <name> [--origin URL]...           new tenant; --origin once per browser origin
  tenants show <tenantId>                           one tenant
  tenants update <tenantId> [--name N] [--origin URL]... [--clear-origins]
                 [--reads-per-minute N|default] [--creates-per-minute N|default]
                 [--end-user-reads-per-minute N|default] [--end-user-creates-per-minute N|default]
                 [--end-user-streams N|default]
                 [--pages-per-month N|none] [--end-user-pages-per-month N|none]
                                                    rename; --origin/--clear-origins replace the origins;
                                                    rate limits per minute (0 unlimited, default: the proxy's);
                                                    each end user's share of them and of the open streams
                                                    (0 no share of their own, default: a quarter);
                                                    page budgets per calendar month (UTC), the tenant's
                                                    and each end user's (none: no budget)
  tenants disable <tenantId>                        every key and browser token of it answers 403
  tenants enable <tenantId>                         undo disable
  tenants revoke-tokens <tenantId>                  every browser token it minted until now answers 401

API keys
  keys list <tenantId>                              its keys (prefixes only, never the keys)
  keys create <tenantId> [--name N] [--expires-at ISO] [--scopes S,S]
                                                    new key (name "default"); shown once, copy it then;
                                                    scopes: jobs:read,jobs:create,tokens:mint,usage:read,
                                                    webhooks:manage (default all)
  keys rotate <tenantId> <keyId> [--old-key-expires-at ISO]
                                                    a new key like it (shown once); the old one works
                                                    until then (default: 24 h from now), then 401
  keys revoke <tenantId> <keyId>                    the key, and the browser tokens it minted, answer 401

Webhooks
  webhooks list <tenantId>                          its endpoints (never their secrets)
  webhooks create <tenantId> <url> [--event E]...   new endpoint (events: job.completed, job.failed,
                                                    budget.threshold, webhook.disabled; default all);
                                                    its secret is shown once
  webhooks delete <tenantId> <webhookId>            the endpoint and its pending deliveries
  webhooks rotate-secret <tenantId> <webhookId>     new secret, shown once; the old one signs too for 24 h
  webhooks deliveries <tenantId> <webhookId>        its recent deliveries
  webhooks redeliver <tenantId> <webhookId> <deliveryId>
                                                    send a delivery again (same webhook-id)

Audit log
  audit [--tenant T] [--from ISO] [--to ISO] [--limit N] [--cursor C]
                                                    administrative changes, newest first

Jobs and usage
  jobs adopt <jobId> --tenant <tenantId> [--subject S]
                                                    give a Waveline job to a tenant (and end user)
  jobs show <jobId> [--no-cache]                    any job, through the cache (--no-cache refetches it)
  cache purge <jobId>                               drop a job from the cache (this location and KV)
  usage <tenantId> [--from ISO] [--to ISO]          jobs and pages in [from, to); default: this
                                                    calendar month (UTC) so far

Options
  --url URL    the proxy; default $PROXY_URL, else ${DEFAULT_URL} (npm run dev)
  --json       print the proxy's JSON answer instead of the human format
  -h, --help   this text

The admin token comes from the environment variable ADMIN_TOKEN or, when that is unset, from
ADMIN_TOKEN in ./.dev.vars (what npm run dev uses). There is deliberately no flag for it: a
token on the command line lands in shell history and process listings. It is never printed.

Examples
  npm run admin -- tenants create "Acme Corp" --origin https://app.acme.com
  npm run admin -- keys create tnt_0123abcd --name backend
  npm run admin -- keys revoke tnt_0123abcd key_4567ef01
  npm run admin -- keys create tnt_0123abcd --name reader --scopes jobs:read --expires-at 2027-01-01T00:00:00Z
  npm run admin -- keys rotate tnt_0123abcd key_4567ef01 --old-key-expires-at 2026-12-01T12:00:00Z
  npm run admin -- audit --tenant tnt_0123abcd --limit 20
  npm run admin -- tenants update tnt_0123abcd --origin https://app.acme.com --origin https://staging.acme.com
  npm run admin -- tenants update tnt_0123abcd --creates-per-minute 10 --reads-per-minute default
  npm run admin -- tenants update tnt_0123abcd --pages-per-month 5000 --end-user-pages-per-month 100
  npm run admin -- jobs adopt 3f2b9c1e-8d4a-4e2b-9f1a-0c5d6e7f8a9b --tenant tnt_0123abcd --subject user-42
  npm run admin -- usage tnt_0123abcd --from 2026-06-01T00:00:00Z --to 2026-07-01T00:00:00Z
  ADMIN_TOKEN=… npm run admin -- tenants list --url https://proxy.example.com

Exit codes: 0 done, 1 the proxy refused or could not be reached, 2 a usage mistake.`;

/** Every option of every command; each command says which of them it takes. */
const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  name: { type: "string" },
  origin: { type: "string", multiple: true },
  "clear-origins": { type: "boolean" },
  tenant: { type: "string" },
  subject: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  "reads-per-minute": { type: "string" },
  "creates-per-minute": { type: "string" },
  "end-user-reads-per-minute": { type: "string" },
  "end-user-creates-per-minute": { type: "string" },
  "end-user-streams": { type: "string" },
  "pages-per-month": { type: "string" },
  "end-user-pages-per-month": { type: "string" },
  "no-cache": { type: "boolean" },
  event: { type: "string", multiple: true },
  "expires-at": { type: "string" },
  scopes: { type: "string" },
  "old-key-expires-at": { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
} as const;

type Flags = ReturnType<typeof parseCommandLine>["values"];
type CommandFlag =
  | "pages-per-month"
  | "end-user-pages-per-month"
  | "name"
  | "origin"
  | "clear-origins"
  | "tenant"
  | "subject"
  | "from"
  | "to"
  | "reads-per-minute"
  | "creates-per-minute"
  | "end-user-reads-per-minute"
  | "end-user-creates-per-minute"
  | "end-user-streams"
  | "no-cache"
  | "event"
  | "expires-at"
  | "scopes"
  | "old-key-expires-at"
  | "limit"
  | "cursor";

interface ApiRequest {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Command {
  /** e.g. `["tenants", "create"]`. */
  words: string[];
  /** The command line it takes, for usage hints. */
  synopsis: string;
  /** Names of the positional arguments after the words, all required. */
  args: string[];
  flags: CommandFlag[];
  request(args: string[], flags: Flags): ApiRequest;
  /** The human format of a successful answer (`null` for a 204). */
  show(answer: unknown, args: string[]): string;
  /**
   * For a paged listing: follows `nextCursor` to the end, printing each page as it arrives
   * (`show` then formats the first; this, the rows of each later one, without a header).
   */
  more?(answer: unknown, first: unknown): string;
}

interface Tenant {
  id: string;
  name: string;
  allowedOrigins: string[];
  disabled: boolean;
  rateLimits: {
    readsPerMinute: number | null;
    createsPerMinute: number | null;
    endUserReadsPerMinute?: number | null;
    endUserCreatesPerMinute?: number | null;
    endUserStreams?: number | null;
  };
  budget?: { pagesPerMonth: number | null; endUserPagesPerMonth: number | null };
  tokensNotBefore?: string | null;
  createdAt: string;
  updatedAt: string;
}

interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
  expiresAt?: string | null;
  scopes?: string[];
  lastUsedAt?: string | null;
  key?: string;
  oldKey?: ApiKey;
}

interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: Record<string, string>;
  before: unknown;
  after: unknown;
}

interface Usage {
  tenantId: string;
  from: string;
  to: string;
  jobsCreated: number;
  jobsCompleted: number;
  jobsFailed: number;
  pagesBilled: number;
  budget?: {
    month: string;
    resetsAt: string;
    pagesUsed: number;
    pagesPerMonth: number | null;
    remaining: number | null;
    endUserPagesPerMonth: number | null;
  };
}

/** A failure with the exit code it ends the CLI with: 1 proxy/network, 2 usage. */
type CliError = Error & { exitCode: 1 | 2 };

function cliError(exitCode: 1 | 2, message: string): CliError {
  return Object.assign(new Error(message), { exitCode });
}

function usageError(message: string): never {
  const hint = message.includes("usage:") ? "" : " (see: npm run admin -- --help)";
  throw cliError(2, `${message}${hint}`);
}

const seg = encodeURIComponent;

/** The note revocations and disables share: the proxy memoises lookups per isolate. */
const PROPAGATION = "Other edge locations may honour it for up to 10 s more.";

interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  disabled: boolean;
  createdAt: string;
  secret?: string;
}

interface WebhookDelivery {
  id: string;
  event: string;
  jobId: string | null;
  state: string;
  attempts: number;
  lastResponseCode: number | null;
  lastError: string | null;
  lastDurationMs: number | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

const hooksOf = (id: string | undefined) => `/admin/tenants/${seg(id ?? "")}/webhooks`;

function formatEndpoint(endpoint: WebhookEndpoint): string {
  const state = endpoint.disabled ? "  DISABLED (answered 410)" : "";
  return `${endpoint.id}  ${endpoint.url}  ${endpoint.events.join(",")}${state}`;
}

function formatDelivery(delivery: WebhookDelivery): string {
  const answer =
    delivery.lastResponseCode === null
      ? (delivery.lastError ?? "-")
      : String(delivery.lastResponseCode);
  const next = delivery.nextAttemptAt ? `  next ${delivery.nextAttemptAt}` : "";
  return `${delivery.id}  ${delivery.event}${delivery.jobId === null ? "" : `  job ${delivery.jobId}`}  ${delivery.state}  attempts ${delivery.attempts}  last ${answer}${delivery.lastDurationMs === null ? "" : ` in ${delivery.lastDurationMs} ms`}${next}`;
}

const SECRET_ONCE =
  "Copy the secret now: it is not shown again. Verify deliveries with it (README, Webhooks).";

const WEBHOOK_COMMANDS: Command[] = [
  {
    words: ["webhooks", "list"],
    synopsis: "webhooks list <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({ method: "GET", path: hooksOf(id) }),
    show: (answer) => {
      const items = (answer as { items: WebhookEndpoint[] }).items;
      return items.length ? items.map(formatEndpoint).join("\n") : "no webhook endpoints";
    },
  },
  {
    words: ["webhooks", "create"],
    synopsis: "webhooks create <tenantId> <url> [--event E]...",
    args: ["tenantId", "url"],
    flags: ["event"],
    request: ([id, url], flags) => ({
      method: "POST",
      path: hooksOf(id),
      body: { url, events: flags.event },
    }),
    show: (answer) => {
      const endpoint = answer as WebhookEndpoint;
      return `created webhook endpoint\n${formatEndpoint(endpoint)}\nsecret: ${endpoint.secret}\n${SECRET_ONCE}`;
    },
  },
  {
    words: ["webhooks", "delete"],
    synopsis: "webhooks delete <tenantId> <webhookId>",
    args: ["tenantId", "webhookId"],
    flags: [],
    request: ([id, hook]) => ({ method: "DELETE", path: `${hooksOf(id)}/${seg(hook ?? "")}` }),
    show: (_answer, [, hook]) => `deleted webhook endpoint ${hook} and its pending deliveries`,
  },
  {
    words: ["webhooks", "rotate-secret"],
    synopsis: "webhooks rotate-secret <tenantId> <webhookId>",
    args: ["tenantId", "webhookId"],
    flags: [],
    request: ([id, hook]) => ({
      method: "POST",
      path: `${hooksOf(id)}/${seg(hook ?? "")}/rotate-secret`,
    }),
    show: (answer) => {
      const rotated = answer as { secret: string; previousSecretExpiresAt: string };
      return `new secret: ${rotated.secret}\nthe old secret signs beside it until ${rotated.previousSecretExpiresAt}\n${SECRET_ONCE}`;
    },
  },
  {
    words: ["webhooks", "deliveries"],
    synopsis: "webhooks deliveries <tenantId> <webhookId>",
    args: ["tenantId", "webhookId"],
    flags: [],
    request: ([id, hook]) => ({
      method: "GET",
      path: `${hooksOf(id)}/${seg(hook ?? "")}/deliveries`,
    }),
    show: (answer) => {
      const items = (answer as { items: WebhookDelivery[] }).items;
      return items.length ? items.map(formatDelivery).join("\n") : "no deliveries";
    },
  },
  {
    words: ["webhooks", "redeliver"],
    synopsis: "webhooks redeliver <tenantId> <webhookId> <deliveryId>",
    args: ["tenantId", "webhookId", "deliveryId"],
    flags: [],
    request: ([id, hook, delivery]) => ({
      method: "POST",
      path: `${hooksOf(id)}/${seg(hook ?? "")}/deliveries/${seg(delivery ?? "")}/redeliver`,
    }),
    show: (answer) => `queued again\n${formatDelivery(answer as WebhookDelivery)}`,
  },
];

const COMMANDS: Command[] = [
  ...WEBHOOK_COMMANDS,
  {
    words: ["tenants", "list"],
    synopsis: "tenants list",
    args: [],
    flags: [],
    request: () => ({ method: "GET", path: "/admin/tenants" }),
    show: (answer) => formatTenantTable((answer as { items: Tenant[] }).items),
    more: (answer, first) =>
      formatTenantTable(
        (answer as { items: Tenant[] }).items,
        (first as { items: Tenant[] }).items,
      ),
  },
  {
    words: ["tenants", "create"],
    synopsis: "tenants create <name> [--origin URL]...",
    args: ["name"],
    flags: ["origin"],
    request: ([name], flags) => ({
      method: "POST",
      path: "/admin/tenants",
      body: { name, allowedOrigins: flags.origin ?? [] },
    }),
    show: (answer) => {
      const tenant = answer as Tenant;
      return `created tenant ${tenant.id}\n${formatTenant(tenant)}\n\nnext: npm run admin -- keys create ${tenant.id}`;
    },
  },
  {
    words: ["tenants", "show"],
    synopsis: "tenants show <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({ method: "GET", path: `/admin/tenants/${seg(id ?? "")}` }),
    show: (answer) => formatTenant(answer as Tenant),
  },
  {
    words: ["tenants", "update"],
    synopsis:
      "tenants update <tenantId> [--name N] [--origin URL]... [--clear-origins] [--reads-per-minute N|default] [--creates-per-minute N|default] [--end-user-reads-per-minute N|default] [--end-user-creates-per-minute N|default] [--end-user-streams N|default] [--pages-per-month N|none] [--end-user-pages-per-month N|none]",
    args: ["tenantId"],
    flags: [
      "name",
      "origin",
      "clear-origins",
      "reads-per-minute",
      "creates-per-minute",
      "end-user-reads-per-minute",
      "end-user-creates-per-minute",
      "end-user-streams",
      "pages-per-month",
      "end-user-pages-per-month",
    ],
    request: ([id], flags) => ({
      method: "PATCH",
      path: `/admin/tenants/${seg(id ?? "")}`,
      body: tenantPatch(flags),
    }),
    show: (answer) => `updated tenant\n${formatTenant(answer as Tenant)}`,
  },
  {
    words: ["tenants", "disable"],
    synopsis: "tenants disable <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({
      method: "PATCH",
      path: `/admin/tenants/${seg(id ?? "")}`,
      body: { disabled: true },
    }),
    show: (answer) =>
      `disabled tenant: its keys and browser tokens now answer 403. ${PROPAGATION}\n${formatTenant(answer as Tenant)}`,
  },
  {
    words: ["tenants", "enable"],
    synopsis: "tenants enable <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({
      method: "PATCH",
      path: `/admin/tenants/${seg(id ?? "")}`,
      body: { disabled: false },
    }),
    show: (answer) => `enabled tenant\n${formatTenant(answer as Tenant)}`,
  },
  {
    words: ["tenants", "revoke-tokens"],
    synopsis: "tenants revoke-tokens <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({ method: "POST", path: `/admin/tenants/${seg(id ?? "")}/revoke-tokens` }),
    show: (answer) =>
      `revoked every browser token of the tenant minted until now: they answer 401, tokens minted from the next second on work. ${PROPAGATION}\n${formatTenant(answer as Tenant)}`,
  },
  {
    words: ["keys", "list"],
    synopsis: "keys list <tenantId>",
    args: ["tenantId"],
    flags: [],
    request: ([id]) => ({ method: "GET", path: `/admin/tenants/${seg(id ?? "")}/keys` }),
    show: (answer) => formatKeyTable((answer as { items: ApiKey[] }).items),
  },
  {
    words: ["keys", "create"],
    synopsis: "keys create <tenantId> [--name N] [--expires-at ISO] [--scopes S,S]",
    args: ["tenantId"],
    flags: ["name", "expires-at", "scopes"],
    request: ([id], flags) => ({
      method: "POST",
      path: `/admin/tenants/${seg(id ?? "")}/keys`,
      body: {
        name: flags.name ?? "default",
        expiresAt: flags["expires-at"],
        scopes: flags.scopes?.split(",").map((scope) => scope.trim()),
      },
    }),
    show: (answer) => formatNewKey(answer as ApiKey),
  },
  {
    words: ["keys", "rotate"],
    synopsis: "keys rotate <tenantId> <keyId> [--old-key-expires-at ISO]",
    args: ["tenantId", "keyId"],
    flags: ["old-key-expires-at"],
    request: ([id, keyId], flags) => ({
      method: "POST",
      path: `/admin/tenants/${seg(id ?? "")}/keys/${seg(keyId ?? "")}/rotate`,
      body: { oldKeyExpiresAt: flags["old-key-expires-at"] },
    }),
    show: (answer) => {
      const rotated = answer as ApiKey;
      return `${formatNewKey(rotated)}\n\nthe old key ${rotated.oldKey?.id} works until ${rotated.oldKey?.expiresAt}, then answers 401: deploy the new one before.`;
    },
  },
  {
    words: ["audit"],
    synopsis: "audit [--tenant T] [--from ISO] [--to ISO] [--limit N] [--cursor C]",
    args: [],
    flags: ["tenant", "from", "to", "limit", "cursor"],
    request: (_args, flags) => ({
      method: "GET",
      path: `/admin/audit${queryString({
        tenantId: flags.tenant,
        from: flags.from,
        to: flags.to,
        limit: flags.limit,
        cursor: flags.cursor,
      })}`,
    }),
    show: (answer) => formatAudit(answer as { items: AuditEntry[]; nextCursor: string | null }),
  },
  {
    words: ["keys", "revoke"],
    synopsis: "keys revoke <tenantId> <keyId>",
    args: ["tenantId", "keyId"],
    flags: [],
    request: ([id, keyId]) => ({
      method: "DELETE",
      path: `/admin/tenants/${seg(id ?? "")}/keys/${seg(keyId ?? "")}`,
    }),
    show: (_answer, [id, keyId]) =>
      `revoked key ${keyId} of tenant ${id}: it and the browser tokens it minted now answer 401. ${PROPAGATION}`,
  },
  {
    words: ["jobs", "adopt"],
    synopsis: "jobs adopt <jobId> --tenant <tenantId> [--subject S]",
    args: ["jobId"],
    flags: ["tenant", "subject"],
    request: ([jobId], flags) => ({
      method: "PUT",
      path: `/admin/jobs/${seg(jobId ?? "")}/owner`,
      body: {
        tenantId: required(
          flags.tenant,
          "--tenant <tenantId>; usage: npm run admin -- jobs adopt <jobId> --tenant <tenantId> [--subject S]",
        ),
        subject: flags.subject,
      },
    }),
    show: (answer) => {
      const owner = answer as { jobId: string; tenantId: string; subject: string | null };
      return `job ${owner.jobId} now belongs to tenant ${owner.tenantId}${owner.subject === null ? "" : `, end user ${owner.subject}`}`;
    },
  },
  {
    words: ["jobs", "show"],
    synopsis: "jobs show <jobId> [--no-cache]",
    args: ["jobId"],
    flags: ["no-cache"],
    request: ([jobId], flags) => ({
      method: "GET",
      path: `/admin/jobs/${seg(jobId ?? "")}`,
      headers: flags["no-cache"] ? { "Cache-Control": "no-cache" } : undefined,
    }),
    show: (answer) => JSON.stringify(answer, null, 2),
  },
  {
    words: ["cache", "purge"],
    synopsis: "cache purge <jobId>",
    args: ["jobId"],
    flags: [],
    request: ([jobId]) => ({ method: "DELETE", path: `/admin/cache/jobs/${seg(jobId ?? "")}` }),
    show: (_answer, [jobId]) =>
      `purged job ${jobId} from KV and from this location's caches; other locations keep their copies until they expire`,
  },
  {
    words: ["usage"],
    synopsis: "usage <tenantId> [--from ISO] [--to ISO]",
    args: ["tenantId"],
    flags: ["from", "to"],
    request: ([id], flags) => ({
      method: "GET",
      path: `/admin/tenants/${seg(id ?? "")}/usage${queryString({ from: flags.from, to: flags.to })}`,
    }),
    show: (answer) => formatUsage(answer as Usage),
  },
];

function parseCommandLine(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
}

/** Parses argv; a mistake in it is a usage error, with a pointed hint for a would-be token flag. */
function parseOrExplain(argv: string[]) {
  try {
    return parseCommandLine(argv);
  } catch (err) {
    const message = (err as Error).message;
    if (/'--?(admin-)?token'/.test(message)) {
      usageError("there is no token flag: set ADMIN_TOKEN in the environment (or in ./.dev.vars)");
    }
    // Node's text goes on about positionals that start with "-": the first sentence says it all.
    return usageError(message.split(". ")[0] ?? message);
  }
}

/** The command the positionals name, and the arguments left after its words. */
function findCommand(positionals: string[]): { command: Command; args: string[] } {
  const command = COMMANDS.find((candidate) =>
    candidate.words.every((word, i) => positionals[i] === word),
  );
  if (command) return { command, args: positionals.slice(command.words.length) };
  const group = positionals[0] ?? "";
  const subcommands = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === group).map(
    (c) => c.words[1],
  );
  if (subcommands.length > 0) {
    const given = positionals[1];
    usageError(
      `${given === undefined ? `${group} needs a subcommand` : `unknown command "${group} ${given}"`}: one of ${subcommands.join(", ")}`,
    );
  }
  return usageError(`unknown command "${group}"`);
}

/** Rejects missing or extra arguments and options the command does not take. */
function checkUsage(command: Command, args: string[], flags: Flags): void {
  const usage = `usage: npm run admin -- ${command.synopsis}`;
  const missing = command.args[args.length];
  if (missing) usageError(`missing <${missing}>; ${usage}`);
  if (args.length > command.args.length) {
    usageError(`unexpected argument "${args[command.args.length]}"; ${usage}`);
  }
  for (const flag of Object.keys(flags)) {
    if (["url", "json", "help"].includes(flag)) continue;
    if (!command.flags.includes(flag as CommandFlag)) usageError(`no --${flag} here; ${usage}`);
  }
}

function required(value: string | undefined, what: string): string {
  if (value === undefined || value === "") usageError(`missing ${what}`);
  return value;
}

function tenantPatch(flags: Flags): Record<string, unknown> {
  if (flags.origin && flags["clear-origins"]) {
    usageError("give either --origin or --clear-origins, not both");
  }
  const patch: Record<string, unknown> = {};
  if (flags.name !== undefined) patch.name = flags.name;
  if (flags.origin) patch.allowedOrigins = flags.origin;
  if (flags["clear-origins"]) patch.allowedOrigins = [];
  const rateLimits: Record<string, number | null> = {};
  for (const [flag, field] of [
    ["reads-per-minute", "readsPerMinute"],
    ["creates-per-minute", "createsPerMinute"],
    ["end-user-reads-per-minute", "endUserReadsPerMinute"],
    ["end-user-creates-per-minute", "endUserCreatesPerMinute"],
    ["end-user-streams", "endUserStreams"],
  ] as const) {
    const value = flags[flag];
    if (value !== undefined) rateLimits[field] = perMinute(value, flag);
  }
  if (Object.keys(rateLimits).length > 0) patch.rateLimits = rateLimits;
  const budget: Record<string, number | null> = {};
  for (const [flag, field] of [
    ["pages-per-month", "pagesPerMonth"],
    ["end-user-pages-per-month", "endUserPagesPerMonth"],
  ] as const) {
    const value = flags[flag];
    if (value !== undefined) budget[field] = pagesPerMonth(value, flag);
  }
  if (Object.keys(budget).length > 0) patch.budget = budget;
  if (Object.keys(patch).length === 0) {
    usageError(
      "tenants update: nothing to change; give --name, --origin, --clear-origins, a rate limit or a page budget",
    );
  }
  return patch;
}

/** A whole number of pages a month, or `none` (null: no budget). */
function pagesPerMonth(value: string, flag: string): number | null {
  if (value === "none") return null;
  if (!/^\d+$/.test(value)) usageError(`--${flag} takes a whole number of pages or "none"`);
  return Number(value);
}

/** A whole number of requests per minute, or `default` (null: the proxy's default). */
function perMinute(value: string, flag: string): number | null {
  if (value === "default") return null;
  if (!/^\d+$/.test(value))
    usageError(`--${flag} takes a whole number (0 = unlimited) or "default"`);
  return Number(value);
}

function queryString(params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) query.set(name, value);
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** `--url`, else `PROXY_URL`, else the local dev proxy; without a trailing slash. */
function proxyBaseUrl(flag: string | undefined): string {
  const raw = flag ?? (process.env.PROXY_URL || DEFAULT_URL);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return usageError(`not a URL: ${raw}`);
  }
  if (!["http:", "https:"].includes(url.protocol)) usageError(`not an http(s) URL: ${raw}`);
  if (url.protocol === "http:" && !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    console.error(`warning: ${url.origin} is plain http: the admin token travels unencrypted`);
  }
  return url.href.replace(/\/+$/, "");
}

/** `ADMIN_TOKEN` from the environment, else from ./.dev.vars; never from the command line. */
function adminToken(): string {
  const fromEnv = process.env.ADMIN_TOKEN;
  if (fromEnv) return fromEnv;
  if (existsSync(".dev.vars")) {
    const fromFile = parseEnv(readFileSync(".dev.vars", "utf8")).ADMIN_TOKEN;
    if (fromFile) return fromFile;
  }
  throw cliError(
    2,
    "no admin token: set ADMIN_TOKEN in the environment (or run where ./.dev.vars defines it)",
  );
}

/** Sends the request; resolves to the JSON answer (`null` for 204) or throws a CliError. */
async function callProxy(baseUrl: string, token: string, request: ApiRequest): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        ...(request.body === undefined ? {} : { "Content-Type": "application/json" }),
        ...request.headers,
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw cliError(1, unreachableMessage(baseUrl, err));
  }
  const text = await response.text();
  if (!response.ok) {
    throw cliError(1, `error: ${response.status} ${errorMessage(text, response.statusText)}`);
  }
  if (response.status === 204 || text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw cliError(1, `error: ${response.status} the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

function unreachableMessage(baseUrl: string, err: unknown): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error.name === "TimeoutError") {
    return `no answer from the proxy at ${baseUrl} within ${TIMEOUT_MS / 1000} s`;
  }
  const reason = error.cause?.code ?? error.cause?.message ?? error.message;
  return `cannot reach the proxy at ${baseUrl}: is \`npm run dev\` running? (${reason})`;
}

/** The `error` of a `{ "error": string }` answer, else the start of whatever came back. */
function errorMessage(text: string, statusText: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") return body.error;
  } catch {
    // not JSON: a load balancer's or Cloudflare's own page
  }
  return text.trim().slice(0, 200) || statusText;
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)),
  );
  return [header, ...rows]
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}

function formatLines(entries: [string, string | number][]): string {
  const width = Math.max(...entries.map(([label]) => label.length)) + 1;
  return entries.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`).join("\n");
}

function formatOrigins(origins: string[]): string {
  return origins.length > 0 ? origins.join(", ") : "(none: browsers cannot call)";
}

function formatTenant(tenant: Tenant): string {
  return formatLines([
    ["id", tenant.id],
    ["name", tenant.name],
    ["status", tenant.disabled ? "DISABLED" : "enabled"],
    ["origins", formatOrigins(tenant.allowedOrigins)],
    ["reads/min", formatLimit(tenant.rateLimits?.readsPerMinute)],
    ["creates/min", formatLimit(tenant.rateLimits?.createsPerMinute)],
    ["reads/min/user", formatShare(tenant.rateLimits?.endUserReadsPerMinute)],
    ["creates/min/user", formatShare(tenant.rateLimits?.endUserCreatesPerMinute)],
    ["streams/user", formatShare(tenant.rateLimits?.endUserStreams)],
    ["pages/month", formatBudget(tenant.budget?.pagesPerMonth)],
    ["pages/month/user", formatBudget(tenant.budget?.endUserPagesPerMonth)],
    ["tokens from", tenant.tokensNotBefore ? `after ${tenant.tokensNotBefore}` : "any"],
    ["created", tenant.createdAt],
    ["updated", tenant.updatedAt],
  ]);
}

function formatBudget(pages: number | null | undefined): string {
  return pages === null || pages === undefined ? "no budget" : String(pages);
}

function formatLimit(limit: number | null | undefined): string {
  if (limit === null || limit === undefined) return "default";
  return limit === 0 ? "unlimited" : String(limit);
}

function formatShare(share: number | null | undefined): string {
  if (share === null || share === undefined) return "a quarter";
  return share === 0 ? "no share (the tenant's limit)" : String(share);
}

/** With `firstPage`: a later page's rows, lined up with the first page's table, no header. */
function formatTenantTable(tenants: Tenant[], firstPage?: Tenant[]): string {
  if (tenants.length === 0 && !firstPage) {
    return "no tenants yet: npm run admin -- tenants create <name>";
  }
  const header = ["ID", "NAME", "STATUS", "CREATED", "ORIGINS"];
  const row = (t: Tenant) => [
    t.id,
    t.name,
    t.disabled ? "DISABLED" : "enabled",
    t.createdAt,
    t.allowedOrigins.join(", ") || "-",
  ];
  if (!firstPage) return formatTable(header, tenants.map(row));
  const lines = formatTable(header, [...firstPage, ...tenants].map(row)).split("\n");
  return lines.slice(1 + firstPage.length).join("\n");
}

function formatKeyTable(keys: ApiKey[]): string {
  if (keys.length === 0) return "no keys: npm run admin -- keys create <tenantId>";
  return formatTable(
    ["ID", "NAME", "PREFIX", "SCOPES", "LAST USED", "STATUS"],
    keys.map((k) => [
      k.id,
      k.name,
      `${k.prefix}…`,
      k.scopes?.join(",") ?? "",
      k.lastUsedAt ?? "never",
      k.revokedAt
        ? `revoked ${k.revokedAt}`
        : k.expiresAt
          ? `${Date.parse(k.expiresAt) <= Date.now() ? "expired" : "expires"} ${k.expiresAt}`
          : "live",
    ]),
  );
}

function formatAudit({ items, nextCursor }: { items: AuditEntry[]; nextCursor: string | null }) {
  if (items.length === 0) return "no audit entries";
  const table = formatTable(
    ["AT", "ACTOR", "ACTION", "TARGET"],
    items.map((entry) => [
      entry.at,
      entry.actor,
      entry.action,
      Object.entries(entry.target)
        .map(([name, value]) => `${name}=${value}`)
        .join(" "),
    ]),
  );
  return nextCursor ? `${table}\n\nmore: --cursor ${nextCursor}` : table;
}

function formatNewKey(record: ApiKey): string {
  return [
    `created key ${record.id} ("${record.name}") for tenant ${record.tenantId}`,
    "",
    `    ${record.key ?? "(the proxy did not return the key)"}`,
    "",
    "Copy it now: this is the only time it is shown (the proxy stores only its hash).",
    "The tenant's backend sends it as: Authorization: Bearer <key>",
  ].join("\n");
}

function formatUsage(usage: Usage): string {
  return formatLines([
    ["tenant", usage.tenantId],
    ["from", usage.from],
    ["to", usage.to],
    ["jobs created", usage.jobsCreated],
    ["jobs completed", usage.jobsCompleted],
    ["jobs failed", usage.jobsFailed],
    ["pages billed", usage.pagesBilled],
    ...(usage.budget
      ? ([
          [`budget ${usage.budget.month}`, formatBudget(usage.budget.pagesPerMonth)],
          ["pages used", usage.budget.pagesUsed],
          ["pages left", usage.budget.remaining ?? "no budget"],
          ["resets at", usage.budget.resetsAt],
        ] as [string, string | number][])
      : []),
  ]);
}

/** What `--json` prints for a 204, which has no body of its own. */
function jsonOf(answer: unknown, command: Command, args: string[]): unknown {
  if (answer !== null) return answer;
  return Object.fromEntries([["status", 204], ...command.args.map((name, i) => [name, args[i]])]);
}

async function main(argv: string[]): Promise<number> {
  const { values: flags, positionals } = parseOrExplain(argv);
  if (flags.help || positionals.length === 0 || positionals[0] === "help") {
    console.log(USAGE);
    return 0;
  }
  const { command, args } = findCommand(positionals);
  checkUsage(command, args, flags);
  const request = command.request(args, flags);
  const baseUrl = proxyBaseUrl(flags.url);
  const token = adminToken();
  const answer = await callProxy(baseUrl, token, request);
  console.log(
    flags.json
      ? JSON.stringify(jsonOf(answer, command, args), null, 2)
      : command.show(answer, args),
  );
  if (command.more) await printLaterPages(command.more, answer, baseUrl, token, request, flags);
  return 0;
}

/** The pages after `first`, each printed as it arrives: a long listing never waits or piles up. */
async function printLaterPages(
  more: NonNullable<Command["more"]>,
  first: unknown,
  baseUrl: string,
  token: string,
  request: ApiRequest,
  flags: Flags,
): Promise<void> {
  let cursor = (first as { nextCursor?: string | null }).nextCursor;
  while (cursor) {
    const separator = request.path.includes("?") ? "&" : "?";
    const path = `${request.path}${separator}cursor=${encodeURIComponent(cursor)}`;
    const answer = await callProxy(baseUrl, token, { ...request, path });
    const { items, nextCursor } = answer as { items: unknown[]; nextCursor?: string | null };
    // With --json, one document per page: `jq '.items[]'` reads them all as one stream.
    if (flags.json) console.log(JSON.stringify(answer, null, 2));
    else if (items.length > 0) console.log(more(answer, first));
    cursor = nextCursor;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const exitCode = (err as Partial<CliError>).exitCode;
  if (exitCode === undefined) throw err;
  console.error((err as Error).message);
  process.exitCode = exitCode;
}
