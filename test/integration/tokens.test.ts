import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { TEST_SIGNING_KEYS } from "../constants";
import {
  asAdmin,
  createTenant,
  fakeWaveline,
  jsonBody,
  mintToken,
  ownedJobId,
  ownJob,
  proxyFetch,
  type TestTenant,
  uniqueJobId,
  withBearer,
} from "./helpers";

// The same issuer and audience as src/core/tenancy/tokens.ts, so forged tokens differ only where meant.
const ISSUER = "waveline-edge-proxy";
const AUDIENCE = "waveline-edge-proxy:browser";
const UNAUTHORISED = { error: "missing or invalid credentials", code: "authentication_failed" };
const API_KEY_REQUIRED = {
  error: "this route takes API keys only, not browser tokens",
  code: "api_key_required",
};
const TENANT_DISABLED = { error: "the tenant is disabled", code: "tenant_disabled" };
const scopeMissing = (scope: string) => ({
  error: `the token lacks the ${scope} scope`,
  code: "scope_missing",
});
const JOB_NOT_FOUND = { error: "job not found", code: "job_not_found" };
const DOCUMENT = { fileName: "a.txt", contentType: "text/plain", content: "hello" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function signingKey(kid: string): { kid: string; secret: string } {
  const key = TEST_SIGNING_KEYS.find((candidate) => candidate.kid === kid);
  if (!key) throw new Error(`no test signing key ${kid}`);
  return key;
}
/** Signs new tokens (first of TOKEN_SIGNING_KEYS). */
const SIGNER = signingKey("test-2");
/** Still verifies: a key being rotated out. */
const ROTATED_OUT = signingKey("test-1");

const encoder = new TextEncoder();
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface ForgeOptions {
  /** `null` leaves the kid out of the header. */
  kid?: string | null;
  secret?: string;
  alg?: string;
  issuer?: string;
  audience?: string;
  issuedAt?: number;
  expiresAt?: number;
}

/** Tenant id to the id of its live API key, which the proxy's own tokens name in `key`. */
const liveKeys = new Map<string, string>();

/** A token built like the proxy's own, except for what `options` changes. */
async function forge(claims: Record<string, unknown>, options: ForgeOptions = {}): Promise<string> {
  const now = nowSeconds();
  const kid = options.kid === undefined ? SIGNER.kid : options.kid;
  const alg = options.alg ?? "HS256";
  return new SignJWT({ key: liveKeys.get(String(claims.tid)) ?? "key_none", ...claims })
    .setProtectedHeader(kid === null ? { alg, typ: "JWT" } : { alg, kid, typ: "JWT" })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(options.issuedAt ?? now)
    .setExpirationTime(options.expiresAt ?? now + 300)
    .sign(encoder.encode(options.secret ?? SIGNER.secret));
}

function base64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An unsigned JWT (`alg: none`) with otherwise valid claims. */
function unsignedToken(tenantId: string): string {
  const now = nowSeconds();
  const header = base64url(JSON.stringify({ alg: "none", kid: SIGNER.kid, typ: "JWT" }));
  const payload = base64url(
    JSON.stringify({
      tid: tenantId,
      scope: "jobs:read jobs:create",
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
    }),
  );
  return `${header}.${payload}.`;
}

/** The longest validly signed token of at most `limit` characters, or the shortest one over it. */
async function forgeAround(
  tenantId: string,
  limit: number,
  side: "at-most" | "over",
): Promise<string> {
  const make = (pad: number) => forge({ tid: tenantId, scope: "jobs:read", pad: "x".repeat(pad) });
  const base = (await make(0)).length;
  // Each pad character adds about 4/3 of a character to the token.
  let pad = Math.floor(((limit - base) * 3) / 4);
  let token = await make(pad);
  while (token.length > limit) token = await make(--pad);
  for (;;) {
    const longer = await make(++pad);
    if (longer.length > limit) return side === "at-most" ? token : longer;
    token = longer;
  }
}

function createJob(credential: string): Promise<Response> {
  return proxyFetch("/extract-document", withBearer(credential, jsonBody(DOCUMENT)));
}

async function listIds(credential: string): Promise<{ ids: string[]; total: number }> {
  const response = await proxyFetch("/jobs?count=100", withBearer(credential));
  expect(response.status).toBe(200);
  const body = (await response.json()) as { items: { id: string }[]; total: number };
  return { ids: body.items.map((item) => item.id).sort(), total: body.total };
}

let acme: TestTenant;
let globex: TestTenant;
beforeAll(async () => {
  acme = await createTenant("acme");
  globex = await createTenant("globex");
  for (const tenant of [acme, globex]) liveKeys.set(tenant.id, tenant.keyId);
});

describe("POST /tokens", () => {
  it("mints a read-only token for 15 minutes by default", async () => {
    const before = Date.now();

    const response = await proxyFetch("/tokens", acme.auth(jsonBody({})));

    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ tokenType: "Bearer", scopes: ["jobs:read"] });
    expect(body.sub).toBeUndefined();
    expect(body.jobs).toBeUndefined();
    const expiresAt = Date.parse(String(body.expiresAt));
    expect(expiresAt).toBeGreaterThanOrEqual(before + 900_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 900_000);
  });

  it("echoes the subject, scopes and jobs it was asked for", async () => {
    const jobs = [uniqueJobId("echo-a"), uniqueJobId("echo-b")];

    const response = await proxyFetch(
      "/tokens",
      acme.auth(jsonBody({ sub: "user-42", scopes: ["jobs:read", "jobs:create"], jobs })),
    );

    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      tokenType: "Bearer",
      sub: "user-42",
      scopes: ["jobs:read", "jobs:create"],
      jobs,
    });
  });

  it("sets expiresAt to now + ttlSeconds, and the token's exp says the same", async () => {
    const before = Date.now();

    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ ttlSeconds: 120 })));

    expect(response.status).toBe(201);
    const { token, expiresAt } = (await response.json()) as { token: string; expiresAt: string };
    const expires = Date.parse(expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 120_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(decodeJwt(token).exp).toBe(expires / 1000);
  });

  it("accepts the longest lifetime, ttlSeconds 3600", async () => {
    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ ttlSeconds: 3600 })));

    expect(response.status).toBe(201);
  });

  it("signs with the first key of TOKEN_SIGNING_KEYS, naming it in the kid header", async () => {
    const token = await mintToken(acme);

    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "HS256", kid: SIGNER.kid });
    const { payload } = await jwtVerify(token, encoder.encode(SIGNER.secret), {
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect(payload.tid).toBe(acme.id);
  });

  it("refuses ttlSeconds 3601 with 400", async () => {
    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ ttlSeconds: 3601 })));

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^ttlSeconds /);
  });

  it("refuses an unknown scope with 400", async () => {
    const response = await proxyFetch(
      "/tokens",
      acme.auth(jsonBody({ scopes: ["jobs:read", "jobs:delete"] })),
    );

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^scopes/);
  });

  it("refuses a job list of more than 100 ids with 400", async () => {
    const jobs = Array.from({ length: 101 }, (_, i) => `job-${i}`);

    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ jobs })));

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^jobs /);
  });

  it("accepts a job list of exactly 100 ids", async () => {
    const jobs = Array.from({ length: 100 }, (_, i) => `job-${i}`);

    const response = await proxyFetch("/tokens", acme.auth(jsonBody({ jobs })));

    expect(response.status).toBe(201);
  });

  it("refuses a browser token, even one that may create jobs, with 403", async () => {
    const token = await mintToken(acme, { scopes: ["jobs:read", "jobs:create"] });

    const response = await proxyFetch("/tokens", withBearer(token, jsonBody({})));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(API_KEY_REQUIRED);
  });

  it("refuses a request without credentials with 401", async () => {
    const response = await proxyFetch("/tokens", jsonBody({}));

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual(UNAUTHORISED);
  });
});

describe("scopes", () => {
  it("a read-only token cannot create a job: 403", async () => {
    const token = await mintToken(acme, { scopes: ["jobs:read"] });

    const response = await createJob(token);

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(scopeMissing("jobs:create"));
  });

  it("a token with jobs:create creates a job", async () => {
    const token = await mintToken(acme, { scopes: ["jobs:create"] });

    const response = await createJob(token);

    expect(response.status).toBe(201);
    const job = (await response.json()) as { id: string };
    expect(job.id).toMatch(UUID);
  });

  it("a create-only token cannot read a job: 403, no upstream call", async () => {
    const id = await ownedJobId(acme, "create-only");
    const token = await mintToken(acme, { scopes: ["jobs:create"] });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(scopeMissing("jobs:read"));
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });
});

describe("tokens with a subject", () => {
  const both = { scopes: ["jobs:read", "jobs:create"] };

  it("reads the jobs it created", async () => {
    const alice = await mintToken(acme, { ...both, sub: "alice" });
    const { id } = (await (await createJob(alice)).json()) as { id: string };

    const response = await proxyFetch(`/jobs/${id}`, withBearer(alice));

    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: string }).id).toBe(id);
  });

  it("cannot read a job another subject of the same tenant created: 404", async () => {
    const alice = await mintToken(acme, { ...both, sub: "alice" });
    const bob = await mintToken(acme, { sub: "bob" });
    const { id } = (await (await createJob(alice)).json()) as { id: string };

    const response = await proxyFetch(`/jobs/${id}`, withBearer(bob));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(JOB_NOT_FOUND);
  });

  it("answers another subject's job 404 without calling the upstream", async () => {
    const id = uniqueJobId("alice-only");
    await ownJob(acme.id, id, "alice");
    const bob = await mintToken(acme, { sub: "bob" });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(bob));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(JOB_NOT_FOUND);
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it("cannot read a job of its tenant that has no subject: 404", async () => {
    const id = await ownedJobId(acme, "no-subject");
    const alice = await mintToken(acme, { sub: "alice" });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(alice));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(JOB_NOT_FOUND);
    expect(await fakeWaveline.calls(id)).toHaveLength(0);
  });

  it("lists only its subject's jobs in GET /jobs", async () => {
    const carol = `carol-${crypto.randomUUID()}`;
    const carolJobs = [uniqueJobId("carol-1"), uniqueJobId("carol-2")].sort();
    for (const id of carolJobs) await ownJob(acme.id, id, carol);
    await ownJob(acme.id, uniqueJobId("dave"), `dave-${crypto.randomUUID()}`);
    await ownJob(acme.id, uniqueJobId("nobody"));

    const listed = await listIds(await mintToken(acme, { sub: carol }));

    expect(listed).toEqual({ ids: carolJobs, total: 2 });
  });
});

describe("tokens with a job list", () => {
  it("reads a job on its list", async () => {
    const id = await ownedJobId(acme, "listed");
    const token = await mintToken(acme, { jobs: [id] });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: string }).id).toBe(id);
  });

  it("cannot read a job of its tenant that is not on its list: 404, no upstream call", async () => {
    const listed = await ownedJobId(acme, "listed");
    const unlisted = await ownedJobId(acme, "unlisted");
    const token = await mintToken(acme, { jobs: [listed] });

    const response = await proxyFetch(`/jobs/${unlisted}`, withBearer(token));

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(JOB_NOT_FOUND);
    expect(await fakeWaveline.calls(unlisted)).toHaveLength(0);
  });

  it("lists only the jobs on its list in GET /jobs", async () => {
    const [first, second, third] = [
      await ownedJobId(acme, "list-1"),
      await ownedJobId(acme, "list-2"),
      await ownedJobId(acme, "list-3"),
    ];
    const token = await mintToken(acme, { jobs: [first, third, uniqueJobId("never-owned")] });

    const listed = await listIds(token);

    expect(listed).toEqual({ ids: [first, third].sort(), total: 2 });
    expect(listed.ids).not.toContain(second);
  });

  it("with an empty list reads and lists no job", async () => {
    const id = await ownedJobId(acme, "empty-list");
    const token = await mintToken(acme, { jobs: [] });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(response.status).toBe(404);
    expect(await listIds(token)).toEqual({ ids: [], total: 0 });
  });

  it("naming another tenant's job still gets 404, the same answer as for an unknown id", async () => {
    const theirs = await ownedJobId(globex, "theirs");
    const unknown = uniqueJobId("unknown");
    const token = await mintToken(acme, { jobs: [theirs, unknown] });

    const forTheirs = await proxyFetch(`/jobs/${theirs}`, withBearer(token));
    const forUnknown = await proxyFetch(`/jobs/${unknown}`, withBearer(token));

    expect(forTheirs.status).toBe(404);
    expect(await forTheirs.text()).toBe(await forUnknown.text());
    expect(forUnknown.status).toBe(404);
    expect(await fakeWaveline.calls(theirs)).toHaveLength(0);
  });
});

describe("API keys", () => {
  it("read a job created by any subject of the tenant", async () => {
    const erin = await mintToken(acme, { scopes: ["jobs:create"], sub: "erin" });
    const { id } = (await (await createJob(erin)).json()) as { id: string };

    const response = await proxyFetch(`/jobs/${id}`, acme.auth());

    expect(response.status).toBe(200);
    expect(((await response.json()) as { id: string }).id).toBe(id);
  });

  it("list the tenant's jobs of every subject and of none", async () => {
    const tenant = await createTenant("initech");
    const ids = [uniqueJobId("k-frank"), uniqueJobId("k-grace"), uniqueJobId("k-none")];
    await ownJob(tenant.id, ids[0] as string, "frank");
    await ownJob(tenant.id, ids[1] as string, "grace");
    await ownJob(tenant.id, ids[2] as string);
    await ownJob(globex.id, uniqueJobId("k-other-tenant"), "frank");

    const listed = await listIds(tenant.key);

    expect(listed).toEqual({ ids: [...ids].sort(), total: 3 });
  });
});

describe("which tokens are accepted", () => {
  it("accepts a token forged exactly like the proxy's own (control for the refusals below)", async () => {
    const id = await ownedJobId(acme, "forged-ok");
    const token = await forge({ tid: acme.id, scope: "jobs:read" });

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(response.status).toBe(200);
  });

  it("accepts a token signed with the second key, one being rotated out", async () => {
    const id = await ownedJobId(acme, "rotated-out");
    const token = await forge(
      { tid: acme.id, scope: "jobs:read" },
      { kid: ROTATED_OUT.kid, secret: ROTATED_OUT.secret },
    );

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(response.status).toBe(200);
  });

  it("accepts a validly signed token of up to 8192 characters", async () => {
    const id = await ownedJobId(acme, "big-ok");
    const token = await forgeAround(acme.id, 8192, "at-most");

    const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

    expect(token.length).toBeLessThanOrEqual(8192);
    expect(token.length).toBeGreaterThan(8188);
    expect(response.status).toBe(200);
  });
});

describe("which tokens are refused with 401", () => {
  const cases: [string, () => Promise<string>][] = [
    [
      "that has expired",
      () =>
        forge(
          { tid: acme.id, scope: "jobs:read" },
          { issuedAt: nowSeconds() - 600, expiresAt: nowSeconds() - 60 },
        ),
    ],
    ["that is not a JWT at all", async () => "not-a-token"],
    ["with three parts of garbage", async () => "eyJhbGciOi.eyJ0aWQiOi.c2lnbmF0dXJl"],
    ["that is truncated", async () => (await mintToken(acme)).slice(0, -6)],
    [
      "signed with a secret not in TOKEN_SIGNING_KEYS",
      () =>
        forge(
          { tid: acme.id, scope: "jobs:read" },
          { secret: "an-attacker-secret-0123456789abcdef" },
        ),
    ],
    ["with alg none and no signature", async () => unsignedToken(acme.id)],
    [
      "signed with HS512 and a listed key",
      () => forge({ tid: acme.id, scope: "jobs:read" }, { alg: "HS512" }),
    ],
    [
      "with a retired kid, signed with its old secret",
      () =>
        forge(
          { tid: acme.id, scope: "jobs:read" },
          { kid: "test-0", secret: "test-signing-secret-0-0123456789abcdef" },
        ),
    ],
    [
      "with a kid that is not listed, even signed with a listed secret",
      () => forge({ tid: acme.id, scope: "jobs:read" }, { kid: "test-9" }),
    ],
    ["without a kid", () => forge({ tid: acme.id, scope: "jobs:read" }, { kid: null })],
    [
      "naming another tenant, signed with a wrong key",
      () =>
        forge(
          { tid: globex.id, scope: "jobs:read" },
          { secret: "an-attacker-secret-0123456789abcdef" },
        ),
    ],
    [
      "naming a tenant that does not exist",
      () => forge({ tid: "tnt_000000000000000000000000", scope: "jobs:read" }),
    ],
    ["without a tenant", () => forge({ scope: "jobs:read" })],
    [
      "for another audience",
      () => forge({ tid: acme.id, scope: "jobs:read" }, { audience: "someone-else" }),
    ],
    [
      "from another issuer",
      () => forge({ tid: acme.id, scope: "jobs:read" }, { issuer: "someone-else" }),
    ],
    ["of more than 8192 characters, validly signed", () => forgeAround(acme.id, 8192, "over")],
  ];

  it.each(cases)(
    "refuses a token %s, without echoing it or calling the upstream",
    async (_, make) => {
      const id = await ownedJobId(acme, "refused");
      const token = await make();

      const response = await proxyFetch(`/jobs/${id}`, withBearer(token));

      expect(response.status).toBe(401);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual(UNAUTHORISED);
      expect(text).not.toContain(token);
      expect(JSON.stringify([...response.headers])).not.toContain(token);
      expect(await fakeWaveline.calls(id)).toHaveLength(0);
    },
  );
});

describe("a disabled tenant", () => {
  let dormant: TestTenant;
  let token: string;
  let jobId: string;
  beforeAll(async () => {
    dormant = await createTenant("dormant");
    jobId = await ownedJobId(dormant, "dormant");
    token = await mintToken(dormant, { scopes: ["jobs:read", "jobs:create"] });
    // Warm every memo first: disabling must still take effect at once.
    expect((await proxyFetch(`/jobs/${jobId}`, withBearer(token))).status).toBe(200);
    expect((await proxyFetch(`/jobs/${jobId}`, dormant.auth())).status).toBe(200);
    const patched = await proxyFetch(
      `/admin/tenants/${dormant.id}`,
      asAdmin(jsonBody({ disabled: true }, { method: "PATCH" })),
    );
    expect(patched.status).toBe(200);
  });

  it("refuses its browser tokens with 403", async () => {
    const before = (await fakeWaveline.calls(jobId)).length;

    const response = await proxyFetch(`/jobs/${jobId}`, withBearer(token));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(TENANT_DISABLED);
    expect(await fakeWaveline.calls(jobId)).toHaveLength(before);
  });

  it("refuses its API keys with 403", async () => {
    const response = await proxyFetch(`/jobs/${jobId}`, dormant.auth());

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(TENANT_DISABLED);
  });

  it("cannot mint tokens any more: 403", async () => {
    const response = await proxyFetch("/tokens", dormant.auth(jsonBody({})));

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(TENANT_DISABLED);
  });

  it("cannot create jobs with its tokens any more: 403", async () => {
    const response = await createJob(token);

    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(TENANT_DISABLED);
  });
});
