/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per secret, space-separated, where
 * the key is the base64 after `whsec_`. Any Standard Webhooks library verifies them.
 */

export const SECRET_PREFIX = "whsec_";
/** 32 random bytes; the spec asks for 24 to 64. */
const SECRET_BYTES = 32;

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** A delivery's `webhook-id`: the same on every attempt, so receivers can drop duplicates. */
export function newMessageId(): string {
  return `msg_${crypto.randomUUID().replaceAll("-", "")}`;
}

export function newEndpointId(): string {
  return `ep_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

async function signOne(secret: string, content: Uint8Array<ArrayBuffer>): Promise<string> {
  const raw = Uint8Array.from(atob(secret.slice(SECRET_PREFIX.length)), (char) =>
    char.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return `v1,${base64(new Uint8Array(await crypto.subtle.sign("HMAC", key, content)))}`;
}

/** The three headers of one attempt; several secrets (during a rotation) give several signatures. */
export async function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestampS: number,
  body: string,
): Promise<Record<string, string>> {
  // Never shared memory, whichever TextEncoder typing (Node's or workerd's) is in scope.
  const content = encoder.encode(`${id}.${timestampS}.${body}`) as Uint8Array<ArrayBuffer>;
  const signatures = await Promise.all(secrets.map((secret) => signOne(secret, content)));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampS),
    "webhook-signature": signatures.join(" "),
  };
}
