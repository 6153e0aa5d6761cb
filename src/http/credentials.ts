/** The token of an `Authorization: Bearer <token>` header, if that is what the request carries. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer +([\x21-\x7e]+) *$/i);
  return match?.[1];
}

const encoder = new TextEncoder();

/**
 * Compares two secrets in time that depends on neither: both are hashed first, so even their
 * lengths stay hidden, then compared with the runtime's constant-time primitive.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

export async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}
