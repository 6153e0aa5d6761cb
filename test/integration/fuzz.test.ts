import { env } from "cloudflare:workers";
import fc from "fast-check";
import { decodeJwt, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/http/errors";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_KEYS, TEST_WAVELINE_KEY } from "../constants";
import {
  createTenant,
  healthyEnv,
  healthyWaveline,
  mintToken,
  ownJob,
  PROXY_ORIGIN,
  proxyFetch,
  SEEDED,
  type TestTenant,
} from "./helpers";

/**
 * Property-based fuzzing of the whole app: random methods, paths, headers, credentials, queries
 * and bodies, with real credentials of two tenants mixed in so that many cases get past
 * authentication. The upstream is a fake Waveline no test injects faults into (`healthyEnv`), so
 * any 5xx is the proxy's own doing: none is allowed (faults.test.ts covers the upstream's faults).
 * On failure fast-check prints its seed and the shrunk request, so the case can be replayed.
 */

type TenantName = "a" | "b";

/** A credential and the only tenant it could ever authenticate as (null: none, ever). */
interface Credential {
  label: string;
  value: string;
  tenant: TenantName | null;
}

interface Fixture {
  tenants: Record<TenantName, TestTenant>;
  origins: Record<TenantName, string>;
  /** A's job is COMPLETED (cached, ETag), B's is RUNNING (upstream every PENDING_CACHE_TTL_MS). */
  jobs: Record<TenantName, string>;
  etagOfA: string;
  credentials: Credential[];
}

/** Job ids known to belong to each tenant: the fixture's, and every job the fuzzer creates. */
const owners = new Map<string, TenantName>();

const SIGNER = TEST_SIGNING_KEYS[0] as { kid: string; secret: string };
const ROTATED_OUT = TEST_SIGNING_KEYS[1] as { kid: string; secret: string };
const ATTACKER_SECRET = "an-attacker-secret-0123456789abcdef";
const ISSUER = "waveline-edge-proxy";
const AUDIENCE = "waveline-edge-proxy:browser";
const encoder = new TextEncoder();

let fixture: Fixture;
beforeAll(async () => {
  const origins = { a: "https://app.a.example", b: "https://app.b.example" };
  const tenants = {
    a: await createTenant("fuzz-a", [origins.a]),
    b: await createTenant("fuzz-b", [origins.b]),
  };
  const jobs = {
    a: `fuzz-a-completed-${crypto.randomUUID()}`,
    b: `fuzz-b-running-${crypto.randomUUID()}`,
  };
  await healthyWaveline.createJob({ id: jobs.a, status: "COMPLETED", pages: 3 });
  await healthyWaveline.createJob({ id: jobs.b, status: "RUNNING" });
  await ownJob(tenants.a.id, jobs.a);
  await ownJob(tenants.b.id, jobs.b);
  owners.set(jobs.a, "a");
  owners.set(jobs.b, "b");

  const first = await proxyFetch(`/jobs/${jobs.a}`, tenants.a.auth(), healthyEnv);
  const etagOfA = first.headers.get("ETag");
  if (first.status !== 200 || !etagOfA) throw new Error(`fixture job unreadable: ${first.status}`);

  const credentials = [
    ...(await credentialsOf("a", tenants, jobs)),
    ...(await credentialsOf("b", tenants, jobs)),
    { label: "admin token", value: TEST_ADMIN_TOKEN, tenant: null },
    { label: "Waveline key", value: TEST_WAVELINE_KEY, tenant: null },
    { label: "made-up API key", value: `wlp_${"A".repeat(43)}`, tenant: null },
    {
      label: "token for a tenant that does not exist",
      value: await sign({ ...claims("tnt_000000000000000000000000"), scope: "jobs:read" }),
      tenant: null,
    },
  ] satisfies Credential[];
  fixture = { tenants, origins, jobs, etagOfA, credentials };
});

/** A tenant's real credentials, and forgeries of them that must all be refused. */
async function credentialsOf(
  name: TenantName,
  tenants: Record<TenantName, TestTenant>,
  jobs: Record<TenantName, string>,
): Promise<Credential[]> {
  const other = name === "a" ? "b" : "a";
  const tenant = tenants[name];
  const minted = {
    read: await mintToken(tenant),
    create: await mintToken(tenant, { scopes: ["jobs:read", "jobs:create"] }),
    createOnly: await mintToken(tenant, { scopes: ["jobs:create"] }),
    subject: await mintToken(tenant, { sub: "user-1", scopes: ["jobs:read", "jobs:create"] }),
    ownJob: await mintToken(tenant, { jobs: [jobs[name]] }),
    // A token may name any id; another tenant's job must stay hidden all the same.
    otherJob: await mintToken(tenant, { jobs: [jobs[other]] }),
  };
  const payload = decodeJwt(minted.create);
  const mine = (label: string, value: string): Credential => ({
    label: `${name}: ${label}`,
    value,
    tenant: name,
  });
  const refused = (label: string, value: string): Credential => ({
    label: `${name}: ${label}`,
    value,
    tenant: null,
  });
  return [
    mine("API key", tenant.key),
    ...Object.entries(minted).map(([label, token]) => mine(`minted ${label} token`, token)),
    mine("re-signed with the rotated-out key", await sign(payload, ROTATED_OUT)),
    mine("re-signed with unknown scopes", await sign({ ...payload, scope: "admin jobs:read" })),
    refused("API key without its last character", tenant.key.slice(0, -1)),
    refused("API key with a character changed", `${tenant.key.slice(0, -1)}!`),
    refused("token truncated", minted.read.slice(0, -3)),
    refused(
      "token re-signed with a foreign secret",
      await sign(payload, { secret: ATTACKER_SECRET }),
    ),
    refused(
      "token naming the other tenant, re-signed with a foreign secret",
      await sign({ ...payload, tid: tenants[other].id }, { secret: ATTACKER_SECRET }),
    ),
    refused("token with alg none", unsigned(payload)),
    refused("token signed HS512", await sign(payload, { alg: "HS512" })),
    refused("token with an unknown kid", await sign(payload, { kid: "test-9" })),
    refused(
      "token with the rotated-out kid and the signer's secret",
      await sign(payload, { kid: ROTATED_OUT.kid }),
    ),
    refused(
      "expired token",
      await sign({ ...payload, iat: nowSeconds() - 600, exp: nowSeconds() - 60 }),
    ),
    refused("token for another audience", await sign({ ...payload, aud: "someone-else" })),
    refused("token without a tenant", await sign({ ...payload, tid: undefined })),
    refused(
      "validly signed token over 8192 characters",
      await sign({ ...payload, pad: "x".repeat(6200) }),
    ),
  ];
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function claims(tenantId: string) {
  return { tid: tenantId, iss: ISSUER, aud: AUDIENCE, iat: nowSeconds(), exp: nowSeconds() + 900 };
}

async function sign(
  payload: Record<string, unknown>,
  key: { kid?: string; secret?: string; alg?: string } = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg ?? "HS256", kid: key.kid ?? SIGNER.kid, typ: "JWT" })
    .sign(encoder.encode(key.secret ?? SIGNER.secret));
}

function base64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unsigned(payload: Record<string, unknown>): string {
  const header = base64url(JSON.stringify({ alg: "none", kid: SIGNER.kid, typ: "JWT" }));
  return `${header}.${base64url(JSON.stringify(payload))}.`;
}

// ------------------------------------------------------------------------------------------------
// What a request is made of. Big values are described (size, depth) and built when sent, so a
// failing case prints in a few lines.

type Body =
  | { kind: "text"; text: string }
  | { kind: "json"; value: unknown }
  | { kind: "deep"; depth: number; array: boolean }
  | { kind: "big"; bytes: number; json: boolean }
  | { kind: "bytes"; bytes: number[] };

interface FuzzRequest {
  method: string;
  path: string;
  query: string;
  credential: Credential | undefined;
  /** What `Authorization` has before and after the credential. */
  scheme: string;
  trailer: string;
  /** Characters cut from the credential's end (0: sent whole). */
  truncate: number;
  origin: string | undefined;
  ifNoneMatch: string | undefined;
  contentType: string | undefined;
  requestId: string | undefined;
  cacheControl: string | undefined;
  paddingBytes: number | undefined;
  body: Body | undefined;
}

const asciiUnit = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));
const ascii = (maxLength: number) => fc.string({ unit: asciiUnit, maxLength });

function arbitraries(f: Fixture) {
  const realIds = [f.jobs.a, f.jobs.b];
  const segment = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...realIds) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...Object.values(SEEDED), f.tenants.a.id, f.tenants.b.id),
    },
    { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/) },
    // The real ids, disguised: percent-encoded, cased, padded, cut.
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...realIds),
          fc.nat(),
          fc.constantFrom("encode", "upper", "pad", "cut"),
        )
        .map(([id, at, how]) => disguise(id, at % id.length, how)),
    },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map(encodeURIComponent) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "%2F",
        "%2e%2e",
        "%00",
        "%ZZ",
        "%",
        "%E2%82%AC",
        "a%2Fb",
        "a/b",
        ";x=1",
        "virtual-fuzz",
        "__proto__",
        "constructor",
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom(129, 4100).map((n) => "a".repeat(n)) },
  );
  const route = fc.oneof(
    { weight: 10, arbitrary: segment.map((id) => `/jobs/${id}`) },
    { weight: 3, arbitrary: fc.constant("/jobs") },
    { weight: 2, arbitrary: fc.constantFrom("/extract-document", "/guess-shape") },
    { weight: 2, arbitrary: fc.constant("/tokens") },
    { weight: 1, arbitrary: fc.constant("/health") },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            "/admin/tenants",
            "/admin/tenants/$",
            "/admin/tenants/$/keys",
            "/admin/tenants/$/keys/$",
            "/admin/tenants/$/usage",
            "/admin/jobs/$",
            "/admin/jobs/$/owner",
            "/admin/cache/jobs/$",
          ),
          segment,
          segment,
        )
        .map(([template, first, second]) => template.replace("$", first).replace("$", second)),
    },
    { weight: 1, arbitrary: fc.webPath() },
    { weight: 1, arbitrary: ascii(40).map((junk) => `/${junk}`) },
  );
  const path = fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom("", "/api/v1") },
        { weight: 1, arbitrary: fc.constantFrom("/api/v2", "/API/V1", "/api/v1/api/v1", "/") },
      ),
      route,
      fc.oneof(
        { weight: 8, arbitrary: fc.constant("") },
        { weight: 1, arbitrary: fc.constantFrom("/", "//", "/x") },
      ),
    )
    .map(([prefix, rest, suffix]) => `${prefix}${rest}${suffix}`);

  const number = fc.oneof(
    fc.integer({ min: -5, max: 150 }).map(String),
    fc.constantFrom("", "1e2", "0x10", "1.5", "NaN", "Infinity", "-0", "9007199254740993", "abc"),
  );
  const instant = fc.oneof(
    fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    fc.constantFrom(
      "2026-11-01",
      "2026-02-30",
      "0000-01-01",
      "2026-01-01T00:00:00+23:59",
      "9999-12-31T23:59:59-23:59",
      "yesterday",
    ),
  );
  const pair = fc.oneof(
    fc.tuple(fc.constantFrom("count", "offset"), number),
    fc.tuple(fc.constantFrom("from", "to"), instant),
    fc.tuple(ascii(8), ascii(12)),
  );
  const query = fc.oneof(
    { weight: 8, arbitrary: fc.constant("") },
    {
      weight: 8,
      arbitrary: fc
        .array(fc.tuple(pair, fc.boolean()), { maxLength: 4 })
        .map((pairs) =>
          pairs
            .map(([[key, value], raw]) =>
              raw ? `${key}=${value}` : `${encodeURIComponent(key)}=${encodeURIComponent(value)}`,
            )
            .join("&"),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.constant(`pad=${"q".repeat(4100)}`),
    },
  );

  const good = f.credentials.filter((candidate) => candidate.tenant !== null);
  const refused = f.credentials.filter((candidate) => candidate.tenant === null);
  const credential = fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom(...good) },
    { weight: 4, arbitrary: fc.constantFrom(...refused) },
    {
      weight: 1,
      arbitrary: ascii(60).map((value) => ({ label: "garbage", value, tenant: null })),
    },
    {
      weight: 1,
      arbitrary: fc
        .stringMatching(/^[A-Za-z0-9_-]{43}$/)
        .map((rest) => ({ label: "API-key-looking", value: `wlp_${rest}`, tenant: null })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 8000, max: 20_000 }).map((n) => ({
        label: "huge",
        value: `eyJ${"A".repeat(n)}`,
        tenant: null,
      })),
    },
  );
  const scheme = fc.oneof(
    { weight: 12, arbitrary: fc.constant("Bearer ") },
    {
      weight: 1,
      arbitrary: fc.constantFrom("bearer ", "BEARER   ", "Bearer\t", "Basic ", "Token ", "", " "),
    },
  );
  const trailer = fc.oneof(
    { weight: 12, arbitrary: fc.constant("") },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "  ",
        ",",
        " extra",
        // What two Authorization headers become: neither tenant may be picked.
        `, Bearer ${f.tenants.a.key}`,
        `, Bearer ${f.tenants.b.key}`,
      ),
    },
  );

  const jsonBodies = fc.oneof(
    fc.constantFrom<unknown>(
      { fileName: "fuzz.txt", contentType: "text/plain", content: "a few words" },
      { fileName: "fuzz-fail.txt", contentType: "text/plain", text: "fails later" },
      {},
      { scopes: ["jobs:read", "jobs:create"], sub: "user-1", ttlSeconds: 60 },
      { scopes: ["jobs:delete"] },
      { jobs: ["made-up-job"], ttlSeconds: 99_999 },
      { name: "fuzzed", allowedOrigins: ["https://fuzz.example"] },
      { name: "   ", allowedOrigins: ["not an origin"] },
      { rateLimits: { readsPerMinute: -1 } },
      { tenantId: "tnt_000000000000000000000000" },
      [],
      null,
      "string",
      42,
    ),
    fc.jsonValue({ maxDepth: 4 }),
  );
  const body: fc.Arbitrary<Body> = fc.oneof(
    { weight: 4, arbitrary: jsonBodies.map((value) => ({ kind: "json" as const, value })) },
    { weight: 1, arbitrary: ascii(80).map((text) => ({ kind: "text" as const, text })) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", maxLength: 40 }).map((text) => ({
        kind: "text" as const,
        text,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("deep" as const),
        depth: fc.integer({ min: 1, max: 5000 }),
        array: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("big" as const),
        bytes: fc.constantFrom(60 * 1024, 70 * 1024, 400 * 1024),
        json: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 })
        .map((bytes) => ({ kind: "bytes" as const, bytes })),
    },
  );

  const method = fc.oneof(
    { weight: 14, arbitrary: fc.constant("GET") },
    { weight: 4, arbitrary: fc.constant("POST") },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        "HEAD",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "PROPFIND",
        "get",
        "patch",
      ),
    },
  );
  return fc.record({
    method,
    path,
    query,
    credential: sometimes(credential, 90),
    scheme,
    trailer,
    truncate: fc.oneof(
      { weight: 12, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }) },
    ),
    origin: sometimes(
      fc.oneof(
        fc.constantFrom(f.origins.a, f.origins.b, "https://evil.example", "null", ""),
        ascii(30),
      ),
      15,
    ),
    ifNoneMatch: sometimes(
      fc.oneof(
        fc.constantFrom(f.etagOfA, `W/${f.etagOfA}`, `"x", ${f.etagOfA}`, "*", '"stale"', ""),
        ascii(30),
      ),
      30,
    ),
    contentType: sometimes(
      fc.oneof(
        fc.constantFrom(
          "application/json",
          "application/json; charset=utf-8",
          "application/vnd.api+json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=fuzz",
        ),
        ascii(30),
      ),
      60,
    ),
    requestId: sometimes(fc.oneof(fc.stringMatching(/^[\w=-]{1,300}$/), ascii(40)), 30),
    cacheControl: sometimes(fc.constantFrom("no-cache", "no-store", "max-age=0"), 10),
    paddingBytes: sometimes(fc.constantFrom(1024, 17 * 1024), 3),
    body: sometimes(body, 80),
  });
}

/** `arbitrary` in about `percent` of the cases, else undefined. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, percent: number) {
  return fc.oneof(
    { weight: 100 - percent, arbitrary: fc.constant(undefined) },
    { weight: percent, arbitrary },
  );
}

function disguise(id: string, at: number, how: string): string {
  if (how === "encode") {
    const hex = id.charCodeAt(at).toString(16).toUpperCase().padStart(2, "0");
    return `${id.slice(0, at)}%${hex}${id.slice(at + 1)}`;
  }
  if (how === "upper") return id.toUpperCase();
  if (how === "pad") return `%20${id}`;
  return id.slice(0, at);
}

function bodyText(body: Body): string | Uint8Array {
  switch (body.kind) {
    case "text":
      return body.text;
    case "json":
      return JSON.stringify(body.value) ?? "";
    case "deep": {
      const [open, close] = body.array ? ["[", "]"] : ['{"a":', "}"];
      return `${open.repeat(body.depth)}1${close.repeat(body.depth)}`;
    }
    case "big":
      return body.json
        ? JSON.stringify({
            fileName: "big.txt",
            contentType: "text/plain",
            content: "w ".repeat(body.bytes / 2),
          })
        : "x".repeat(body.bytes);
    case "bytes":
      return new Uint8Array(body.bytes);
  }
}

/** The Authorization header, if any, and the only tenant it could authenticate as. */
function authorization(request: FuzzRequest): { header?: string; tenant: TenantName | null } {
  const { credential, truncate, scheme, trailer } = request;
  if (!credential) return { tenant: null };
  const value = truncate > 0 ? credential.value.slice(0, -truncate) : credential.value;
  const header = `${scheme}${value}${trailer}`;
  // A credential cut short is never one of ours (API keys are hashed, tokens signed, whole), nor
  // is one followed by anything but spaces.
  const whole = truncate === 0 && trailer.trim() === "";
  return { header, tenant: whole ? credential.tenant : null };
}

function toRequestInit(request: FuzzRequest): RequestInit {
  const headers = new Headers();
  const auth = authorization(request);
  if (auth.header !== undefined) headers.set("Authorization", auth.header);
  if (request.origin !== undefined) headers.set("Origin", request.origin);
  if (request.ifNoneMatch !== undefined) headers.set("If-None-Match", request.ifNoneMatch);
  if (request.contentType !== undefined) headers.set("Content-Type", request.contentType);
  if (request.requestId !== undefined) headers.set("X-Request-Id", request.requestId);
  if (request.cacheControl !== undefined) headers.set("Cache-Control", request.cacheControl);
  if (request.paddingBytes !== undefined)
    headers.set("X-Padding", "p".repeat(request.paddingBytes));
  const bodyAllowed = !["GET", "HEAD", "get"].includes(request.method);
  const body = request.body && bodyAllowed ? bodyText(request.body) : undefined;
  return { method: request.method, headers, body };
}

// ------------------------------------------------------------------------------------------------
// What must hold for every response.

const SECRETS = { "Waveline key": TEST_WAVELINE_KEY, "admin token": TEST_ADMIN_TOKEN };
const CREATION_ROUTE = /^(\/api\/v1)?\/(extract-document|guess-shape)$/;

function decodedPath(path: string): string {
  const { pathname } = new URL(`${PROXY_ORIGIN}${path}`);
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

/** What a run got, to check the fuzzer reached past authentication rather than only to 401s. */
class Tally {
  statuses = new Map<number, number>();
  readsOfOwnJob = 0;
  count(status: number) {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }
  of(status: number) {
    return this.statuses.get(status) ?? 0;
  }
  toString() {
    return JSON.stringify(Object.fromEntries(this.statuses));
  }
}

async function sendAndCheck(request: FuzzRequest, tally: Tally): Promise<void> {
  const url = `${request.path}${request.query ? `?${request.query}` : ""}`;
  const response = await proxyFetch(url, toRequestInit(request), healthyEnv);
  const text = new TextDecoder().decode(await response.arrayBuffer());
  const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  const { status } = response;
  const { tenant } = authorization(request);
  const method = request.method.toUpperCase();
  const path = decodedPath(request.path);
  const success = (status >= 200 && status < 300) || status === 304;
  const what = `${request.method} ${url.slice(0, 200)} as ${request.credential?.label ?? "nobody"} -> ${status} ${text.slice(0, 200)}`;
  tally.count(status);

  // No 5xx of the proxy's own making, and with a healthy upstream no mapped one either.
  expect(status, what).toBeLessThan(500);
  expect(response.headers.get("X-Request-Id"), what).toBeTruthy();
  expect(response.headers.get("X-Content-Type-Options"), what).toBe("nosniff");
  for (const [name, secret] of Object.entries(SECRETS)) {
    expect(text.includes(secret), `${name} in the body: ${what}`).toBe(false);
    expect(headers.includes(secret), `${name} in a header: ${what}`).toBe(false);
  }

  // Every error is { "error": string, "code" } (a HEAD answer has no body at all), its status the
  // one the code's table gives; only a spent budget says more (whose, and when it resets).
  if (!success && method !== "HEAD") {
    expect(response.headers.get("Content-Type"), what).toMatch(/^application\/json/);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const extra = parsed.code === "budget_exhausted" ? ["budget", "resetsAt"] : [];
    expect(Object.keys(parsed), what).toEqual(["error", "code", ...extra]);
    expect(typeof parsed.error, what).toBe("string");
    expect(ERROR_STATUS[parsed.code as keyof typeof ERROR_STATUS], what).toBe(status);
  }

  // Nobody sees a job that is not theirs: not in a body, not as a 2xx or 304 for its path.
  const adminCredential =
    request.credential?.value === TEST_ADMIN_TOKEN &&
    request.truncate === 0 &&
    !request.trailer.trim();
  if (!adminCredential) {
    for (const [jobId, owner] of owners) {
      if (owner === tenant) continue;
      expect(text.includes(jobId), `job of ${owner} shown: ${what}`).toBe(false);
      if (success && method !== "OPTIONS") {
        expect(path.includes(jobId), `job of ${owner} answered: ${what}`).toBe(false);
      }
    }
  }

  // Without a tenant's credential only health, preflights and (for the admin token) /admin answer.
  if (success && tenant === null) {
    const open =
      method === "OPTIONS" || path === "/health" || (adminCredential && path.startsWith("/admin/"));
    expect(open, `answered without a credential: ${what}`).toBe(true);
  }

  if (status === 201 && CREATION_ROUTE.test(path) && tenant !== null) {
    owners.set((JSON.parse(text) as { id: string }).id, tenant);
  }
  if (status === 200 && tenant !== null && path.endsWith(`/jobs/${fixture.jobs[tenant]}`)) {
    tally.readsOfOwnJob++;
  }
}

const DOCUMENT: Body = {
  kind: "json",
  value: { fileName: "fuzz.txt", contentType: "text/plain", content: "a few words" },
};

/** Runs the property `runs` times over `requests`, then returns what the responses were. */
async function fuzz(requests: fc.Arbitrary<FuzzRequest>, runs: number): Promise<Tally> {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(requests, (request) => sendAndCheck(request, tally)),
    { numRuns: runs },
  );
  return tally;
}

describe("fuzzing", () => {
  it("holds every property for 500 job creations with random credentials and bodies", async () => {
    const creations = fc
      .tuple(
        arbitraries(fixture),
        fc.constantFrom("/extract-document", "/guess-shape"),
        fc.constantFrom("", "/api/v1"),
        fc.boolean(),
      )
      .map(([request, route, mount, valid]) => ({
        ...request,
        method: "POST",
        path: `${mount}${route}`,
        query: "",
        body: valid ? DOCUMENT : request.body,
      }));
    const known = owners.size;

    const tally = await fuzz(creations, 500);

    // Every later response is checked against the jobs created here too.
    expect(tally.of(201), `${tally}`).toBeGreaterThan(25);
    expect(owners.size - known).toBe(tally.of(201));
  }, 120_000);

  it("holds them for 4000 random requests to any route", async () => {
    const tally = await fuzz(arbitraries(fixture), 4000);

    expect(tally.of(200), `${tally}`).toBeGreaterThan(100);
    expect(tally.readsOfOwnJob, `${tally}`).toBeGreaterThan(20);
  }, 120_000);

  it("holds them for 1500 reads of the two tenants' jobs with random credentials", async () => {
    const reads = fc
      .tuple(
        arbitraries(fixture),
        fc.constantFrom(fixture.jobs.a, fixture.jobs.b),
        fc.constantFrom("", "/api/v1"),
      )
      .map(([request, job, mount]) => ({
        ...request,
        method: "GET",
        path: `${mount}/jobs/${job}`,
        query: "",
        truncate: 0,
        scheme: "Bearer ",
        trailer: "",
        paddingBytes: undefined,
        body: undefined,
      }));

    const tally = await fuzz(reads, 1500);

    // Both sides of the line were tried many times: tenants reading their own job and the other's.
    expect(tally.readsOfOwnJob, `${tally}`).toBeGreaterThan(150);
    expect(tally.of(404), `${tally}`).toBeGreaterThan(150);
  }, 120_000);

  it("left the jobs' ownership as it was", async () => {
    const { results } = await env.DB.prepare("SELECT id, tenant_id FROM jobs").all<{
      id: string;
      tenant_id: string;
    }>();
    const recorded = new Map(results.map((row) => [row.id, row.tenant_id]));

    for (const [jobId, owner] of owners) {
      expect(recorded.get(jobId), jobId).toBe(fixture.tenants[owner].id);
    }
  });
});
