import { type CryptoKey, jwtVerify, SignJWT } from "jose";
import * as z from "zod/mini";

/**
 * Browser tokens: short-lived JWTs (HS256) the proxy mints for a tenant's front-end and alone
 * verifies. Signed with the first of TOKEN_SIGNING_KEYS; any listed key verifies, so keys rotate
 * by adding a new one first and removing the old one after the longest token lifetime.
 */
export const SCOPES = ["jobs:read", "jobs:create"] as const;
export type Scope = (typeof SCOPES)[number];

export const TOKEN_TTL_S = { default: 15 * 60, max: 60 * 60 };
const ISSUER = "waveline-edge-proxy";
const AUDIENCE = "waveline-edge-proxy:browser";
/** A longer credential is not one of ours: refuse it before spending any crypto on it. */
export const MAX_TOKEN_CHARS = 8192;

export interface SigningKey {
  kid: string;
  /** As configured (bytes), or imported once for the isolate (what the hot path should hold). */
  secret: Uint8Array<ArrayBuffer> | CryptoKey;
}

/** Imports the secrets as HMAC keys once: jose would import raw bytes again on every token. */
export async function importSigningKeys(keys: readonly SigningKey[]): Promise<SigningKey[]> {
  return Promise.all(
    keys.map(async ({ kid, secret }) => ({
      kid,
      secret:
        secret instanceof Uint8Array
          ? await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
              "sign",
              "verify",
            ])
          : secret,
    })),
  );
}

export interface BrowserTokenClaims {
  tenantId: string;
  /** The API key that minted it: revoking the key ends the token. */
  keyId: string;
  subject?: string;
  scopes: Scope[];
  jobIds?: string[];
  /** The end user's monthly page budget (with a subject only). */
  pagesPerMonth?: number;
}

const payloadSchema = z.object({
  tid: z.string(),
  key: z.string(),
  iat: z.number(),
  sub: z.optional(z.string()),
  scope: z.string(),
  jobs: z.optional(z.array(z.string())),
  ppm: z.optional(z.number()),
});

export async function mintBrowserToken(
  keys: readonly SigningKey[],
  claims: BrowserTokenClaims,
  ttlSeconds: number,
  now = Date.now(),
): Promise<{ token: string; expiresAt: string }> {
  const [signing] = keys;
  if (!signing) throw new Error("no signing key");
  const issuedAt = Math.floor(now / 1000);
  const expires = issuedAt + ttlSeconds;
  const jwt = new SignJWT({
    tid: claims.tenantId,
    key: claims.keyId,
    scope: claims.scopes.join(" "),
    ...(claims.jobIds ? { jobs: claims.jobIds } : {}),
    ...(claims.pagesPerMonth === undefined ? {} : { ppm: claims.pagesPerMonth }),
  })
    .setProtectedHeader({ alg: "HS256", kid: signing.kid, typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expires);
  if (claims.subject !== undefined) jwt.setSubject(claims.subject);
  return {
    token: await jwt.sign(signing.secret),
    expiresAt: new Date(expires * 1000).toISOString(),
  };
}

/** The claims of a valid token of ours, or null for anything else (expired, forged, unknown kid). */
export async function verifyBrowserToken(
  keys: readonly SigningKey[],
  token: string,
): Promise<(BrowserTokenClaims & { issuedAt: number }) | null> {
  if (token.length > MAX_TOKEN_CHARS || keys.length === 0) return null;
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = keys.find((candidate) => candidate.kid === header.kid);
        if (!key) throw new Error("unknown kid");
        return key.secret;
      },
      {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ["exp", "iat"],
        maxTokenAge: TOKEN_TTL_S.max,
        clockTolerance: 5,
      },
    );
    const claims = payloadSchema.safeParse(payload);
    if (!claims.success) return null;
    const scopes = claims.data.scope
      .split(" ")
      .filter((s): s is Scope => SCOPES.includes(s as Scope));
    return {
      tenantId: claims.data.tid,
      keyId: claims.data.key,
      issuedAt: claims.data.iat,
      subject: claims.data.sub,
      scopes,
      jobIds: claims.data.jobs,
      pagesPerMonth: claims.data.ppm,
    };
  } catch {
    return null;
  }
}
