/**
 * The audit log (issue 23): every administrative change, who made it (an admin credential's
 * fingerprint, or a tenant key's id), what, when, and the state before and after, never a secret.
 * Changes kept in D1 write their entry in the same transaction as the change (an `AuditNote`
 * passed to the store); changes kept elsewhere (webhook endpoints in the tenant's outbox, the
 * job cache) write theirs right after the change succeeds (`AuditLog.record`).
 */

export const AUDIT_ACTIONS = [
  "tenant.create",
  "tenant.update",
  "key.create",
  "key.revoke",
  "key.rotate",
  "tokens.revoke",
  "webhook.create",
  "webhook.delete",
  "webhook.rotate_secret",
  "webhook.redeliver",
  "job.assign",
  "cache.purge",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a change is about: the ids it concerns (`tenantId` is what `?tenantId=` filters on). */
export interface AuditTarget {
  tenantId?: string;
  keyId?: string;
  webhookId?: string;
  deliveryId?: string;
  jobId?: string;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: AuditAction;
  target: AuditTarget;
  before: unknown;
  after: unknown;
}

/** Who makes a change, handed to a store whose write records it. */
export interface AuditNote {
  actor: string;
}

export interface AuditQuery {
  tenantId?: string;
  from?: string;
  to?: string;
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: AuditCursor;
}

/** Where a page ended: entries come newest first, by time, then by their order of writing. */
export interface AuditCursor {
  at: string;
  seq: number;
}

export interface AuditLog {
  /** An entry for a change that is not in D1 (written after the change, on its own). */
  record(entry: Omit<AuditEntry, "at">): Promise<void>;
  list(query: AuditQuery): Promise<{ items: AuditEntry[]; next: AuditCursor | null }>;
}

export const AUDIT_PAGE = { default: 100, max: 1000 };
/** Entries past the retention go a few at a time with each new entry: never an unbounded delete. */
export const AUDIT_PRUNE_BATCH = 20;

/** Fields that hold or derive from a credential: their values never reach the log. */
const SECRET_FIELD = /(secret|hash)$|^(key|token|password)$/i;

/** `value` without secrets: any field named like one keeps its name, its value is "[redacted]". */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([name, field]) => [
      name,
      SECRET_FIELD.test(name) && field !== null && field !== undefined
        ? "[redacted]"
        : redact(field),
    ]),
  );
}

const encoder = new TextEncoder();
const fingerprints = new Map<string, Promise<string>>();

/**
 * `admin:` and the first 12 hex digits of the admin token's SHA-256: tells credentials apart
 * (after a rotation, say) without holding anything that helps guess one.
 */
export function adminActor(token: string): Promise<string> {
  let fingerprint = fingerprints.get(token);
  if (!fingerprint) {
    fingerprint = crypto.subtle.digest("SHA-256", encoder.encode(token)).then((digest) => {
      const hex = [...new Uint8Array(digest, 0, 6)]
        .map((byte) => byte.toString(16).padStart(2, "0"))
        .join("");
      return `admin:${hex}`;
    });
    // One admin token (two during a rotation): the map stays tiny.
    if (fingerprints.size > 8) fingerprints.clear();
    fingerprints.set(token, fingerprint);
  }
  return fingerprint;
}

export const keyActor = (keyId: string) => `key:${keyId}`;

export function encodeCursor(cursor: AuditCursor): string {
  return btoa(`${cursor.at}|${cursor.seq}`).replace(/=+$/, "");
}

export function decodeCursor(text: string): AuditCursor | null {
  try {
    const [at, seq] = atob(text).split("|");
    const number = Number(seq);
    if (!at || Number.isNaN(Date.parse(at)) || !Number.isSafeInteger(number)) return null;
    return { at, seq: number };
  } catch {
    return null;
  }
}
