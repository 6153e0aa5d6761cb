/** Tenant API keys: `wlp_` and 32 random bytes, base64url. Only a SHA-256 of a key is ever stored. */
export const API_KEY_PREFIX = "wlp_";
const KEY_BYTES = 32;
/** How much of a key listings show: enough to tell keys apart, far too little to use one. */
const DISPLAY_CHARS = API_KEY_PREFIX.length + 6;

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: string;
}

export async function generateApiKey(): Promise<GeneratedKey> {
  const key = `${API_KEY_PREFIX}${base64url(crypto.getRandomValues(new Uint8Array(KEY_BYTES)))}`;
  return { key, prefix: key.slice(0, DISPLAY_CHARS), hash: await hashApiKey(key) };
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

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
