import { Hono } from "hono";
import * as z from "zod/mini";
import { AUDIT_PAGE, decodeCursor, encodeCursor } from "../../../core/audit/log";
import type { Services } from "../../../core/services";
import type { AppEnv } from "../../context";
import { fail } from "../../errors";
import { describeRoute, STORAGE_UNAVAILABLE } from "../../openapi/describe";
import { auditList } from "../../openapi/responses";
import { pageQuery } from "../../paging";
import { validate } from "../../validate";

/** `2026-11-01` (midnight UTC) or a full date-time with its zone. */
const instant = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: "must be an ISO 8601 date or date-time",
});

/** Operators read the audit log: every administrative change, newest first. */
export function adminAuditRoutes(services: Services) {
  const adminAudit = new Hono<AppEnv>();

  adminAudit.get(
    "/audit",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "listAuditEntries",
        summary: "The audit log",
        description: `Every administrative change (tenants, budgets and limits, keys, token revocations, webhook endpoints, job owners, cache purges), newest first: who made it, when, and the state before and after, with secrets, key hashes and webhook secrets redacted. Entries are kept \`AUDIT_RETENTION_DAYS\` (default 365). Pages of \`limit\` (default ${AUDIT_PAGE.default}, at most ${AUDIT_PAGE.max}); \`nextCursor\` fetches the next.`,
        tag: "admin: audit",
        auth: "admin",
        responses: { 200: { description: "entries, newest first", body: auditList } },
        errors: {
          invalid_request:
            "`from` or `to` is not an ISO 8601 date or date-time, `limit` is out of range, or `cursor` is not one this route gave",
          ...STORAGE_UNAVAILABLE,
        },
      },
    ),
    validate(
      "query",
      z.object({
        tenantId: z.optional(
          z.string().check(z.maxLength(64), z.describe("only changes of this tenant")),
        ),
        from: z.optional(instant.check(z.describe("start, inclusive"))),
        to: z.optional(instant.check(z.describe("end, exclusive"))),
        ...pageQuery(AUDIT_PAGE, "entries"),
      }),
    ),
    async (c) => {
      const { tenantId, from, to, limit, cursor } = c.req.valid("query");
      const position = cursor === undefined ? undefined : decodeCursor(cursor);
      if (position === null) fail("invalid_request", "cursor is not one this route gave");
      const { items, next } = await services.audit.list({
        tenantId,
        from: from === undefined ? undefined : new Date(from).toISOString(),
        to: to === undefined ? undefined : new Date(to).toISOString(),
        limit,
        cursor: position,
      });
      return c.json({ items, nextCursor: next && encodeCursor(next) });
    },
  );
  return adminAudit;
}
