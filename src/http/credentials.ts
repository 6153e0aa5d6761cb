/** The token of an `Authorization: Bearer <token>` header, if that is what the request carries. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer +([\x21-\x7e]+) *$/i);
  return match?.[1];
}
