import type { LoadCrowd, LoadJob, LoadTenant } from "./fixture";
import type { Answer, Outgoing } from "./http";

/**
 * The mix of the load: what each request is, and what its answer must be. Every request carries
 * the set of statuses it may get; anything else is a failure of the run.
 */
export interface Planned {
  scenario: ScenarioName;
  request: Outgoing;
  expect: readonly number[];
  /** Someone reading what is not theirs: a 2xx here is a cross-tenant success. */
  foreign?: boolean;
  /** A problem with an answer of an expected status, or undefined. */
  check?(answer: Answer): string | undefined;
  /** Books what an answer changed (a created job). */
  record?(answer: Answer): void;
}

/** What the scenarios share: the tenants and what the run has learned so far. */
export interface LoadWorld {
  proxyUrl: string;
  tenants: LoadTenant[];
  /** A tenant of many end users, one of them noisy. */
  crowd: LoadCrowd;
  /** ETags seen per job, to revalidate with `If-None-Match`. */
  etags: Map<string, string>;
  /** Job ids each listing returned, checked against the owners once the run is over. */
  listings: { tenant: LoadTenant; subject: string | undefined; ids: string[] }[];
  /** Per job created during the run: the latest status answered, and when it arrived. */
  progress: Map<string, { rank: number; at: number }>;
  /** Creations so far, for unique file names. */
  creations: number;
  /** Recent creations of unlimited tenants that answered 201: sent again, they must replay. */
  replayable: { request: Outgoing; id: string }[];
  /** Bad credentials so far: each comes from an address of its own. */
  badCredentials: number;
}

/** Creations kept for `create-again`: recent ones, so replays meet fresh keys and old ones. */
const REPLAYABLE_KEPT = 200;

/** One address sends only bad credentials: the failed-auth limiter must slow it down. */
const GUESSER_ADDRESS = "203.0.113.66";

const SCENARIOS = {
  hit: { weight: 30, plan: planHit },
  pending: { weight: 10, plan: planPending },
  "new-job": { weight: 12, plan: planNewJob },
  list: { weight: 4, plan: planList },
  mint: { weight: 2, plan: planMint },
  create: { weight: 14, plan: planCreate },
  "create-again": { weight: 3, plan: planCreateAgain },
  "create-limited": { weight: 3, plan: planLimitedCreate },
  "over-budget": { weight: 2, plan: planOverBudget },
  "cross-tenant": { weight: 12, plan: planCrossTenant },
  "cross-user": { weight: 3, plan: planCrossUser },
  "bad-credential": { weight: 8, plan: planBadCredential },
  guesser: { weight: 2, plan: planGuess },
  "noisy-end-user": { weight: 8, plan: planNoisyEndUser },
  "quiet-end-users": { weight: 4, plan: planQuietEndUser },
} satisfies Record<string, { weight: number; plan: (world: LoadWorld) => Planned }>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];
const TOTAL_WEIGHT = SCENARIO_NAMES.reduce((sum, name) => sum + SCENARIOS[name].weight, 0);

/** The next request of the mix, drawn by weight. */
export function planNext(world: LoadWorld): Planned {
  let draw = Math.random() * TOTAL_WEIGHT;
  for (const name of SCENARIO_NAMES) {
    draw -= SCENARIOS[name].weight;
    if (draw < 0) return SCENARIOS[name].plan(world);
  }
  return planHit(world);
}

const JOB_NOT_FOUND = JSON.stringify({ error: "job not found", code: "job_not_found" });
/** What a job created during the run shows, in order (none of their file names says "fail"). */
const PROGRESS = ["CREATED", "RUNNING", "COMPLETED"];
const MOUNTS = ["", "/api/v1"];

function planHit(world: LoadWorld): Planned {
  const tenant = pick(world.tenants);
  const job = pick(tenant.terminal);
  const credential = pick(
    job.subject
      ? [tenant.apiKey, tenant.userToken, tenant.listToken]
      : [tenant.apiKey, tenant.listToken],
  );
  const mount = pick(MOUNTS);
  // The ETag covers the body, and the body's urls.get names the mount.
  const etagKey = `${mount}/jobs/${job.id}`;
  const etag = world.etags.get(etagKey);
  if (etag && Math.random() < 0.2) {
    const request = get(`${mount}/jobs/${job.id}`, credential, { "If-None-Match": etag });
    return { scenario: "hit", request, expect: [304] };
  }
  return readOwnJob(world, "hit", job, credential, mount, (answer) => {
    const tag = header(answer, "etag");
    if (!tag) return "a terminal job without an ETag";
    const known = world.etags.get(etagKey);
    if (known && known !== tag) return `ETag changed from ${known} to ${tag}`;
    world.etags.set(etagKey, tag);
    return undefined;
  });
}

/** One end user reading far above their share: refused, but never their neighbours. */
function planNoisyEndUser(world: LoadWorld): Planned {
  const { token, job } = world.crowd.noisy;
  return { scenario: "noisy-end-user", request: get(`/jobs/${job}`, token), expect: [200, 429] };
}

/** The same tenant's other end users, each well within their share: never a 429. */
function planQuietEndUser(world: LoadWorld): Planned {
  const { token, job } = pick(world.crowd.quiet);
  return { scenario: "quiet-end-users", request: get(`/jobs/${job}`, token), expect: [200] };
}

function planPending(world: LoadWorld): Planned {
  const tenant = pick(world.tenants);
  const job = pick(tenant.running);
  const credential = job.subject ? pick([tenant.apiKey, tenant.userToken]) : tenant.apiKey;
  return readOwnJob(world, "pending", job, credential, pick(MOUNTS));
}

function planNewJob(world: LoadWorld): Planned {
  const tenant = pick(
    world.tenants.filter((candidate) => candidate.created.length > 0),
    null,
  );
  if (!tenant) return planCreate(world);
  // Mostly the newest jobs, as pollers would: those are still CREATED or RUNNING.
  const recent = tenant.created.slice(-20);
  const job = pick(Math.random() < 0.8 ? recent : tenant.created);
  const credential = job.subject ? pick([tenant.apiKey, tenant.userToken]) : tenant.apiKey;
  return readOwnJob(world, "new-job", job, credential, pick(MOUNTS));
}

function planList(world: LoadWorld): Planned {
  const tenant = pick(world.tenants);
  const asUser = Math.random() < 0.5;
  const mount = pick(MOUNTS);
  const count = pick([10, 50, 100]);
  return {
    scenario: "list",
    request: get(`${mount}/jobs?count=${count}`, asUser ? tenant.userToken : tenant.apiKey),
    expect: [200],
    check: (answer) => {
      const body = parseJson(answer.body) as { items?: { id?: unknown }[]; total?: unknown };
      if (!Array.isArray(body?.items) || typeof body.total !== "number") return "not a job list";
      if (body.items.length > count) return `${body.items.length} items for count=${count}`;
      const ids = body.items.map((item) => String(item.id));
      world.listings.push({ tenant, subject: asUser ? tenant.subject : undefined, ids });
      return undefined;
    },
  };
}

function planMint(world: LoadWorld): Planned {
  const tenant = pick(world.tenants);
  const request = post("/tokens", tenant.apiKey, {
    sub: `minted-${Math.random()}`,
    ttlSeconds: 60,
  });
  return {
    scenario: "mint",
    request,
    expect: [201],
    check: (answer) =>
      typeof (parseJson(answer.body) as { token?: unknown })?.token === "string"
        ? undefined
        : "no token in the answer",
  };
}

function planCreate(world: LoadWorld): Planned {
  const tenant = pick(world.tenants.filter((candidate) => candidate.createsPerMinute === null));
  return createJob(world, "create", tenant, [201]);
}

/** A creation sent again with its Idempotency-Key: the same job, no new one upstream. */
function planCreateAgain(world: LoadWorld): Planned {
  if (world.replayable.length === 0) return planCreate(world);
  const { request, id } = pick(world.replayable);
  return {
    scenario: "create-again",
    request,
    expect: [201],
    check: (answer) => {
      const job = parseJson(answer.body) as { id?: unknown };
      if (job?.id !== id) return `the replay answered job ${String(job?.id)}, not ${id}`;
      return header(answer, "idempotent-replayed") === "true"
        ? undefined
        : "a replay without Idempotent-Replayed: true";
    },
  };
}

function planLimitedCreate(world: LoadWorld): Planned {
  const tenant = pick(world.tenants.filter((candidate) => candidate.createsPerMinute !== null));
  return createJob(world, "create-limited", tenant, [201, 429]);
}

/** File names of `over-budget` creations: none of them may reach Waveline. */
export const OVER_BUDGET_FILES = "load-over-budget-";

/**
 * An end user of the limited tenant whose page budget is used up: 402 before Waveline, and each
 * refusal spends the tenant's creation limit like a creation, so once it is spent, 429.
 */
function planOverBudget(world: LoadWorld): Planned {
  const tenant = pick(world.tenants.filter((candidate) => candidate.createsPerMinute !== null));
  world.creations++;
  const request = post(
    "/extract-document",
    tenant.overBudgetToken,
    documentBody(`over-budget-${world.creations}`),
  );
  return {
    scenario: "over-budget",
    request,
    expect: [402, 429],
    check: (answer) => {
      if (!header(answer, "retry-after")) return `a ${answer.status} without Retry-After`;
      if (answer.status === 429) return undefined;
      const body = parseJson(answer.body) as { error?: unknown; budget?: unknown };
      return body?.error === "page budget exhausted" && body.budget === "end user"
        ? undefined
        : `a 402 that does not name the end user's budget: ${answer.body.slice(0, 200)}`;
    },
  };
}

function planCrossTenant(world: LoadWorld): Planned {
  const reader = pick(world.tenants);
  const owner = pick(world.tenants.filter((candidate) => candidate !== reader));
  const job = pick([...owner.terminal, ...owner.running, ...owner.created.slice(-50)]);
  const credential = pick([reader.apiKey, reader.userToken, reader.listToken]);
  return notYours("cross-tenant", job.id, credential);
}

/** One end user's token on the backend's jobs, a job-list token on a job not in its list. */
function planCrossUser(world: LoadWorld): Planned {
  const tenant = pick(world.tenants);
  const backendJobs = [...tenant.terminal, ...tenant.running, ...tenant.created].filter(
    (job) => job.subject === null,
  );
  if (Math.random() < 0.5) return notYours("cross-user", pick(backendJobs).id, tenant.userToken);
  const unlisted = [...tenant.running, ...tenant.created.slice(-50)];
  return notYours("cross-user", pick(unlisted).id, tenant.listToken);
}

function planBadCredential(world: LoadWorld): Planned {
  world.badCredentials++;
  const n = world.badCredentials;
  const address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  return { ...badCredential(world, "bad-credential", address), expect: [401] };
}

function planGuess(world: LoadWorld): Planned {
  return { ...badCredential(world, "guesser", GUESSER_ADDRESS), expect: [401, 429] };
}

function badCredential(world: LoadWorld, scenario: ScenarioName, address: string): Planned {
  const tenant = pick(world.tenants);
  const credentials = [
    `Bearer ${randomText(40)}`,
    `Bearer wlp_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}`,
    `Bearer ${tenant.revokedKey}`,
    `Bearer ${tenant.expiredToken}`,
    `Bearer ${tenant.forgedToken}`,
    `Bearer ${tenant.userToken.slice(0, -3)}`,
    `Basic ${Buffer.from(`${tenant.name}:${tenant.apiKey.slice(0, -2)}`).toString("base64")}`,
    "",
  ];
  const authorization = pick(credentials);
  const headers: Record<string, string> = { "CF-Connecting-IP": address };
  if (authorization) headers.Authorization = authorization;
  const job = pick(tenant.terminal);
  const request = pick<Outgoing>([
    { method: "GET", path: `/jobs/${job.id}`, headers },
    { method: "GET", path: "/api/v1/jobs", headers },
    {
      method: "POST",
      path: "/extract-document",
      headers,
      body: JSON.stringify(documentBody("bad")),
    },
    { method: "POST", path: "/tokens", headers, body: "{}" },
  ]);
  return {
    scenario,
    request,
    expect: [401],
    check: (answer) =>
      answer.status === 401 && header(answer, "www-authenticate") !== "Bearer"
        ? "a 401 without WWW-Authenticate: Bearer"
        : undefined,
  };
}

function createJob(
  world: LoadWorld,
  scenario: ScenarioName,
  tenant: LoadTenant,
  expect: readonly number[],
): Planned {
  world.creations++;
  const asUser = Math.random() < 0.4;
  const kind = Math.random() < 0.8 ? "extract-document" : "guess-shape";
  const mount = pick(MOUNTS);
  const credential = asUser ? tenant.userToken : tenant.apiKey;
  const request = post(
    `${mount}/${kind}`,
    credential,
    documentBody(`${scenario}-${world.creations}`),
  );
  request.headers = { ...request.headers, "Idempotency-Key": crypto.randomUUID() };
  if (asUser) request.headers = { ...request.headers, Origin: tenant.origin };
  return {
    scenario,
    request,
    expect,
    check: (answer) => {
      if (answer.status === 429) {
        return header(answer, "retry-after") && header(answer, "ratelimit-limit")
          ? undefined
          : "a 429 without Retry-After and RateLimit-Limit";
      }
      const job = parseJson(answer.body) as { id?: unknown; urls?: { get?: unknown } };
      if (typeof job?.id !== "string") return "a 201 without a job id";
      const self = `${world.proxyUrl}${mount}/jobs/${encodeURIComponent(job.id)}`;
      if (job.urls?.get !== self) return `urls.get is ${String(job.urls?.get)}, not ${self}`;
      if (header(answer, "location") !== self) return `Location is not ${self}`;
      if (asUser && header(answer, "access-control-allow-origin") !== tenant.origin) {
        return "no CORS header for the tenant's origin";
      }
      return undefined;
    },
    record: (answer) => {
      const id = answer.status === 201 && (parseJson(answer.body) as { id?: unknown })?.id;
      if (typeof id === "string") {
        tenant.created.push({ id, subject: asUser ? tenant.subject : null, status: undefined });
        if (tenant.createsPerMinute === null) {
          world.replayable.push({ request, id });
          if (world.replayable.length > REPLAYABLE_KEPT) world.replayable.shift();
        }
      }
    },
  };
}

/** A job the credential may read: 200, the very job asked for, pointing back at the proxy. */
function readOwnJob(
  world: LoadWorld,
  scenario: ScenarioName,
  job: LoadJob,
  credential: string,
  mount: string,
  more?: (answer: Answer) => string | undefined,
): Planned {
  return {
    scenario,
    request: get(`${mount}/jobs/${encodeURIComponent(job.id)}`, credential),
    expect: [200],
    check: (answer) => {
      const body = parseJson(answer.body) as {
        id?: unknown;
        status?: unknown;
        urls?: { get?: unknown };
      };
      if (body?.id !== job.id) return `asked for job ${job.id}, got ${String(body?.id)}`;
      const allowed = job.status ? [job.status] : PROGRESS;
      const status = String(body.status);
      if (!allowed.includes(status)) {
        return `status ${status}, expected one of ${allowed.join(", ")}`;
      }
      const regress = job.status ? undefined : progressed(world, job.id, status, answer.ms);
      if (regress) return regress;
      const self = `${world.proxyUrl}${mount}/jobs/${encodeURIComponent(job.id)}`;
      if (body.urls?.get !== self) return `urls.get is ${String(body.urls?.get)}, not ${self}`;
      return more?.(answer);
    },
  };
}

/**
 * A job never goes back: once an answer showed a status, a request sent after that answer arrived
 * must not show an earlier one, whichever cache tier serves it.
 */
function progressed(world: LoadWorld, id: string, status: string, ms: number): string | undefined {
  const now = performance.now();
  const rank = PROGRESS.indexOf(status);
  const seen = world.progress.get(id);
  if (seen && rank < seen.rank && now - ms > seen.at) {
    return `status ${status} after ${PROGRESS[seen.rank]} had been answered`;
  }
  if (!seen || rank > seen.rank) world.progress.set(id, { rank, at: now });
  return undefined;
}

/** Someone else's job, or one outside the credential's reach: exactly the "no such job" answer. */
function notYours(scenario: ScenarioName, jobId: string, credential: string): Planned {
  return {
    scenario,
    request: get(`${pick(MOUNTS)}/jobs/${encodeURIComponent(jobId)}`, credential),
    expect: [404],
    foreign: true,
    check: (answer) =>
      answer.body === JOB_NOT_FOUND ? undefined : `404 body ${answer.body.slice(0, 80)}`,
  };
}

function get(path: string, credential: string, headers: Record<string, string> = {}): Outgoing {
  return { method: "GET", path, headers: { Authorization: `Bearer ${credential}`, ...headers } };
}

function post(path: string, credential: string, body: unknown): Outgoing {
  return {
    method: "POST",
    path,
    headers: { Authorization: `Bearer ${credential}` },
    body: JSON.stringify(body),
  };
}

function documentBody(name: string) {
  return {
    fileName: `load-${name}.txt`,
    contentType: "text/plain",
    content: "Invoice INV-7, total 99 EUR, due in thirty days.",
    shape: [{ name: "total", type: "number" }],
  };
}

function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function randomText(length: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(length)))
    .toString("base64url")
    .slice(0, length);
}

function pick<T>(items: readonly T[]): T;
function pick<T, F>(items: readonly T[], fallback: F): T | F;
function pick<T>(items: readonly T[], ...fallback: unknown[]): unknown {
  if (items.length === 0) {
    if (fallback.length > 0) return fallback[0];
    throw new Error("nothing to pick from");
  }
  return items[Math.floor(Math.random() * items.length)];
}
