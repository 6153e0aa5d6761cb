import { mintBrowserToken, type SigningKey } from "../../src/core/tenancy/tokens";
import type { TestStack } from "../e2e/test-stack";

export type JobStatus = "CREATED" | "RUNNING" | "COMPLETED" | "FAILED";

/** A job of the load's world: who owns it (and which end user), what status it must show. */
export interface LoadJob {
  id: string;
  /** The end user it belongs to; null for jobs of the tenant's backend. */
  subject: string | null;
  status: JobStatus | undefined;
}

export interface LoadTenant {
  id: string;
  name: string;
  origin: string;
  /** Its own creation limit per minute; null: the run's generous default. */
  createsPerMinute: number | null;
  apiKey: string;
  revokedKey: string;
  subject: string;
  /** jobs:read and jobs:create for one end user. */
  userToken: string;
  /** jobs:create for another end user, whose own page budget is 0: every creation is a 402. */
  overBudgetToken: string;
  /** jobs:read on the tenant's terminal jobs only (a job list, no end user). */
  listToken: string;
  /** Signed with the proxy's own key, but expired an hour ago. */
  expiredToken: string;
  /** Right shape and kid, wrong secret. */
  forgedToken: string;
  /** Pinned COMPLETED or FAILED upstream: served from the cache after the first read. */
  terminal: LoadJob[];
  /** Pinned RUNNING upstream: served from the pending cache, refetched every interval. */
  running: LoadJob[];
  /** Created during the run (its 201s), in order. */
  created: LoadJob[];
}

export interface FixtureOptions {
  tenants: number;
  terminalPerTenant: number;
  runningPerTenant: number;
  /** The creation limit of the last tenant, so that 429s are exercised. */
  limitedCreatesPerMinute: number;
}

/**
 * Tenants as an operator and their backends would set them up, through the admin API and the
 * tenant API; their jobs are pinned in the fake Waveline and given to them with the admin API.
 */
export async function setUpTenants(
  stack: TestStack,
  options: FixtureOptions,
): Promise<LoadTenant[]> {
  const fake = stack.fake;
  if (!fake) throw new Error("the load test needs the local fake Waveline");
  const admin = adminClient(stack);
  const signingKeys = parseSigningKeys(stack.vars.TOKEN_SIGNING_KEYS ?? "");

  const setUpOne = async (index: number): Promise<LoadTenant> => {
    const limited = index === options.tenants - 1;
    const name = limited ? `load-limited-${index}` : `load-${index}`;
    const origin = `https://app${index}.load.example`;
    const createsPerMinute = limited ? options.limitedCreatesPerMinute : null;
    const tenant = await admin<{ id: string }>("POST", "/admin/tenants", {
      name,
      allowedOrigins: [origin],
      ...(limited ? { rateLimits: { createsPerMinute } } : {}),
    });
    const apiKey = await newKey(admin, tenant.id, "backend");
    const revokedKey = await newKey(admin, tenant.id, "revoked");
    const keys = await admin<{ items: { id: string; name: string }[] }>(
      "GET",
      `/admin/tenants/${tenant.id}/keys`,
    );
    const revokedId = keys.items.find((key) => key.name === "revoked")?.id;
    await admin("DELETE", `/admin/tenants/${tenant.id}/keys/${revokedId}`);

    const subject = `user-${index}`;
    const adopt = async (status: JobStatus, owner: string | null, n: number): Promise<LoadJob> => {
      const fileName = `${name}-${status.toLowerCase()}-${n}.pdf`;
      const job = await control<{ id: string }>(fake.origin, "/__control/jobs", {
        status,
        fileName,
        pages: status === "RUNNING" ? 0 : 2,
      });
      await admin("PUT", `/admin/jobs/${job.id}/owner`, { tenantId: tenant.id, subject: owner });
      return { id: job.id, subject: owner, status };
    };
    // Half of each kind belongs to the end user, half to the backend; one terminal job FAILED.
    const terminal = await Promise.all(
      Array.from({ length: options.terminalPerTenant }, (_, n) =>
        adopt(n === 0 ? "FAILED" : "COMPLETED", n % 2 === 0 ? subject : null, n),
      ),
    );
    const running = await Promise.all(
      Array.from({ length: options.runningPerTenant }, (_, n) =>
        adopt("RUNNING", n % 2 === 0 ? subject : null, n),
      ),
    );

    const mint = async (claims: Record<string, unknown>) =>
      (await tenantCall<{ token: string }>(stack.proxyUrl, apiKey, "/tokens", claims)).token;
    const userToken = await mint({
      sub: subject,
      scopes: ["jobs:read", "jobs:create"],
      ttlSeconds: 3600,
    });
    const listToken = await mint({ jobs: terminal.map((job) => job.id), ttlSeconds: 3600 });
    const overBudgetToken = await mint({
      sub: `broke-${index}`,
      scopes: ["jobs:create"],
      pagesPerMonth: 0,
      ttlSeconds: 3600,
    });
    const backendKeyId = keys.items.find((key) => key.name === "backend")?.id ?? "";
    const claims = {
      tenantId: tenant.id,
      keyId: backendKeyId,
      subject,
      scopes: ["jobs:read" as const],
    };
    const expired = await mintBrowserToken(signingKeys, claims, 60, Date.now() - 3600_000);
    const forgeryKey = {
      kid: signingKeys[0]?.kid ?? "",
      secret: crypto.getRandomValues(new Uint8Array(32)),
    };
    const forged = await mintBrowserToken([forgeryKey], claims, 600);

    return {
      id: tenant.id,
      name,
      origin,
      createsPerMinute,
      apiKey,
      revokedKey,
      subject,
      userToken,
      overBudgetToken,
      listToken,
      expiredToken: expired.token,
      forgedToken: forged.token,
      terminal,
      running,
      created: [],
    };
  };

  return Promise.all(Array.from({ length: options.tenants }, (_, index) => setUpOne(index)));
}

/** One tenant's many end users: one reads far above their share, the others now and then. */
export interface LoadCrowd {
  tenantId: string;
  readsPerMinute: number;
  endUserReadsPerMinute: number;
  noisy: { token: string; job: string };
  quiet: { token: string; job: string }[];
}

/**
 * A tenant whose end users read their own (finished) jobs with browser tokens of their own: its
 * read limit is one the noisy end user alone would use up, were it not for end users' shares.
 */
export async function setUpCrowd(
  stack: TestStack,
  options: { quietUsers: number; readsPerMinute: number; endUserReadsPerMinute: number },
): Promise<LoadCrowd> {
  const fake = stack.fake;
  if (!fake) throw new Error("the load test needs the local fake Waveline");
  const admin = adminClient(stack);
  const { readsPerMinute, endUserReadsPerMinute } = options;
  const tenant = await admin<{ id: string }>("POST", "/admin/tenants", {
    name: "load-crowd",
    allowedOrigins: [],
    rateLimits: { readsPerMinute, endUserReadsPerMinute },
  });
  const apiKey = await newKey(admin, tenant.id, "backend");
  const endUser = async (subject: string) => {
    const job = await control<{ id: string }>(fake.origin, "/__control/jobs", {
      status: "COMPLETED",
      fileName: `load-crowd-${subject}.pdf`,
      pages: 1,
    });
    await admin("PUT", `/admin/jobs/${job.id}/owner`, { tenantId: tenant.id, subject });
    const minted = await tenantCall<{ token: string }>(stack.proxyUrl, apiKey, "/tokens", {
      sub: subject,
      ttlSeconds: 3600,
    });
    return { token: minted.token, job: job.id };
  };
  const quiet = await Promise.all(
    Array.from({ length: options.quietUsers }, (_, n) => endUser(`quiet-${n}`)),
  );
  return {
    tenantId: tenant.id,
    readsPerMinute,
    endUserReadsPerMinute,
    noisy: await endUser("noisy"),
    quiet,
  };
}

type AdminCall = <T = unknown>(method: string, path: string, body?: unknown) => Promise<T>;

/** The admin API with the run's admin token; any refusal stops the run. */
export function adminClient(stack: TestStack): AdminCall {
  const token = stack.vars.ADMIN_TOKEN ?? "";
  return async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.proxyUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  };
}

/** A tenant API call with an API key or token; any refusal stops the run. */
export async function tenantCall<T>(
  proxyUrl: string,
  credential: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${proxyUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${credential}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

async function newKey(admin: AdminCall, tenantId: string, name: string): Promise<string> {
  return (await admin<{ key: string }>("POST", `/admin/tenants/${tenantId}/keys`, { name })).key;
}

/** The fake Waveline's control API (no auth, test-only). */
async function control<T>(origin: string, path: string, body: unknown): Promise<T> {
  const response = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`fake ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** How many creations reached the fake Waveline with `text` in their body. */
export async function upstreamCreationsWith(stack: TestStack, text: string): Promise<number> {
  const query = new URLSearchParams({ match: "/extract-document", bodyIncludes: text });
  const response = await fetch(`${stack.fake?.origin}/__control/calls?${query}`, {
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`fake calls: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { total: number }).total;
}

/** How many jobs the fake Waveline holds: its account-wide list total, read with the proxy's key. */
export async function upstreamJobCount(stack: TestStack): Promise<number> {
  const response = await fetch(`${stack.fake?.baseUrl}/jobs?count=1`, {
    headers: { Authorization: `Bearer ${stack.vars.WAVELINE_API_KEY}` },
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`fake /jobs: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { total: number }).total;
}

function parseSigningKeys(json: string): SigningKey[] {
  const keys = JSON.parse(json) as { kid: string; secret: string }[];
  return keys.map(({ kid, secret }) => ({ kid, secret: new TextEncoder().encode(secret) }));
}
