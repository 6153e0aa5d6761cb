import * as z from "zod/mini";

/**
 * The query fields of a listing that answers in pages (`{ items, nextCursor }`): `limit` (the
 * page's size, `page.default` unless given, at most `page.max`) and `cursor` (the previous page's
 * `nextCursor`, opaque). Spread into the route's query schema.
 */
export function pageQuery(page: { default: number; max: number }, items: string) {
  return {
    limit: z._default(
      z.coerce
        .number()
        .check(z.int(), z.minimum(1), z.maximum(page.max), z.describe(`${items} per page`)),
      page.default,
    ),
    cursor: z.optional(
      z.string().check(z.maxLength(200), z.describe("`nextCursor` of the previous page")),
    ),
  };
}
