/**
 * Tenant API keys: `wlp_`, 32 random bytes and an 8-byte tag, base64url. The tag is an HMAC of
 * the rest under a secret of the proxy's database, so a made-up key is told apart from a real one
 * without a lookup. Only a SHA-256 of a key is ever stored.
 */
/**
 * What an API key may do (issue 23): a key is made with some of these, all by default. Browser
 * tokens carry only the job scopes (`Scope`), and a key mints only those it has itself.
 */
export const KEY_SCOPES = [
  "jobs:read",
  "jobs:create",
  "tokens:mint",
  "usage:read",
  "webhooks:manage",
] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export const API_KEY_PREFIX = "wlp_";
const KEY_BYTES = 32;
const TAG_BYTES = 8;
const BODY_CHARS = API_KEY_PREFIX.length + 43;
const TAGGED_KEY = /^wlp_[A-Za-z0-9_-]{54}$/;
/** How much of a key listings show: enough to tell keys apart, far too little to use one. */
const DISPLAY_CHARS = API_KEY_PREFIX.length + 6;

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: string;
}

/**
 * What an isolate needs to refuse a made-up key without asking storage: the tag secret, and the
 * hashes of the live keys made before keys had tags (a set that only shrinks).
 */
export interface KeyCheck {
  tagSecret: string;
  legacyHashes: ReadonlySet<string>;
}

export async function generateApiKey(tagSecret: string): Promise<GeneratedKey> {
  const body = `${API_KEY_PREFIX}${base64url(crypto.getRandomValues(new Uint8Array(KEY_BYTES)))}`;
  const key = `${body}${base64url(await tagOf(tagSecret, body))}`;
  return { key, prefix: key.slice(0, DISPLAY_CHARS), hash: await hashApiKey(key) };
}

/** Whether `key` can be a live key at all; `hash` is its SHA-256 (hex). No I/O. */
export async function mayBeLiveKey(check: KeyCheck, key: string, hash: string): Promise<boolean> {
  if (!TAGGED_KEY.test(key)) return check.legacyHashes.has(hash);
  // The tag's text is compared, not its decoded bytes: 11 characters carry 66 bits for 64, so
  // decoding would also take the three other spellings of the last character.
  const expected = base64url(await tagOf(check.tagSecret, key.slice(0, BODY_CHARS)));
  return sameText(expected, key.slice(BODY_CHARS));
}

/** Whether a key is one of the kind made before tags: such keys are checked against a set. */
export function isLegacyKey(key: string): boolean {
  return !TAGGED_KEY.test(key);
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
const encoder = new TextEncoder();

/** Lowercase hex SHA-256. Runs on every authenticated request, hence the table. */
export async function hashApiKey(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
  let hex = "";
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(API_KEY_PREFIX);
}

const importTagKey = (secret: string) =>
  crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
// Imported once per secret: a key check runs on every request of a cold credential.
const tagKeys = new Map<string, ReturnType<typeof importTagKey>>();

async function tagOf(secret: string, body: string): Promise<Uint8Array> {
  let key = tagKeys.get(secret);
  if (!key) {
    key = importTagKey(secret);
    tagKeys.set(secret, key);
  }
  const mac = await crypto.subtle.sign("HMAC", await key, encoder.encode(body));
  return new Uint8Array(mac, 0, TAG_BYTES);
}

/** Compares in time that does not depend on where the characters differ. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
