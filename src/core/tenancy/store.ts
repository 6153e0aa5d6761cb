import type { JobStatus } from "../../waveline/schema";
import type { AuditNote } from "../audit/log";
import type { KeyCheck, KeyScope } from "./keys";

/** The storage behind tenancy, as the rest of the proxy sees it (D1 in production). */

/** Requests per minute; null means the proxy's default. */
export interface RateLimits {
  readsPerMinute: number | null;
  createsPerMinute: number | null;
  /** Each end user's part of the tenant's limits (0: none); null means a quarter of them. */
  endUserReadsPerMinute: number | null;
  endUserCreatesPerMinute: number | null;
  /** Event streams one end user may have open, of the tenant's `STREAMS_PER_TENANT`. */
  endUserStreams: number | null;
}

/** Pages a calendar month (UTC); null means no budget. */
export interface Budget {
  pagesPerMonth: number | null;
  /** Each end user's, unless their token carries their own. */
  endUserPagesPerMonth: number | null;
}

export interface Tenant {
  id: string;
  name: string;
  allowedOrigins: string[];
  disabled: boolean;
  rateLimits: RateLimits;
  budget: Budget;
  /** Browser tokens issued at or before this instant are refused; null: none are. */
  tokensNotBefore: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
  /** From then on the key is refused (401); null: it does not expire. */
  expiresAt: string | null;
  scopes: KeyScope[];
  /** When a request last used the key, at most an hour stale; null: never. */
  lastUsedAt: string | null;
}

/** A key as a request sees it: what `authenticate` needs, read with its tenant. */
export interface LiveKey {
  tenant: Tenant;
  keyId: string;
  expiresAt: string | null;
  scopes: KeyScope[];
  lastUsedAt: string | null;
}

/** Where a page of tenants ended: they come by creation time, ties by id. */
export interface TenantCursor {
  createdAt: string;
  id: string;
}

export interface TenantStore {
  /** Changes take an `audit` note: its entry is written in the same transaction as the change. */
  createTenant(
    input: {
      name: string;
      allowedOrigins: string[];
      rateLimits?: Partial<RateLimits>;
      budget?: Partial<Budget>;
    },
    audit?: AuditNote,
  ): Promise<Tenant>;
  /** A page of tenants, oldest first (then by id), disabled ones included: `limit` + 1 rows read. */
  listTenants(page: {
    limit: number;
    /** `next` of the previous page. */
    cursor?: TenantCursor;
  }): Promise<{ items: Tenant[]; next: TenantCursor | null }>;
  getTenant(id: string): Promise<Tenant | null>;
  updateTenant(
    id: string,
    patch: {
      name?: string;
      allowedOrigins?: string[];
      disabled?: boolean;
      rateLimits?: Partial<RateLimits>;
      budget?: Partial<Budget>;
    },
    audit?: AuditNote,
  ): Promise<Tenant | null>;
  /** Stores a key by its hash; the caller generated the key and shows it once. */
  addKey(
    input: {
      tenantId: string;
      name: string;
      prefix: string;
      hash: string;
      expiresAt?: string | null;
      scopes?: KeyScope[];
    },
    audit?: AuditNote,
  ): Promise<ApiKeyRecord>;
  listKeys(tenantId: string): Promise<ApiKeyRecord[]>;
  /** False when the tenant has no live key with that id; else the revoked key's hash. */
  revokeKey(tenantId: string, keyId: string, audit?: AuditNote): Promise<{ hash: string } | null>;
  /**
   * A new key with the name and scopes of the live, unexpired key `keyId`, whose expiry becomes
   * `oldKeyExpiresAt` (sooner only: a rotation never lengthens a key's life); null when the
   * tenant has no such key.
   */
  rotateKey(
    tenantId: string,
    keyId: string,
    next: { prefix: string; hash: string; oldKeyExpiresAt: string },
    audit?: AuditNote,
  ): Promise<{ key: ApiKeyRecord; old: ApiKeyRecord; oldHash: string } | null>;
  /** Notes that a request used the key at `at` (never moves it back). */
  recordKeyUse(keyId: string, at: string): Promise<void>;
  /** Refuses every browser token of the tenant issued until now; null when there is no tenant. */
  revokeTokens(tenantId: string, audit?: AuditNote): Promise<Tenant | null>;
  /** The secret API key tags are made with (one per database, made by a migration). */
  keyTagSecret(): Promise<string>;
  /** What one request needs to know, read together: one round trip to storage. */
  find(query: FindQuery): Promise<Found>;
}

/** The parts of a request's lookup; each is answered in `Found` under the same name. */
export interface FindQuery {
  /** An API key's hash: its live key and tenant. */
  keyHash?: string;
  /** A browser token's tenant, and whether the key that minted it is live. */
  token?: { tenantId: string; keyId: string };
  /** Who owns this job. */
  jobId?: string;
  /** The isolate's first API key: what it needs to refuse made-up keys by itself. */
  keyCheck?: boolean;
}

export interface Found {
  /** For `keyHash`: null when no unrevoked key has that hash (expiry is checked at use). */
  key?: LiveKey | null;
  /**
   * For `token`: the tenant (null if none), whether the minting key is unrevoked, and its expiry
   * (checked at use).
   */
  token?: { tenant: Tenant | null; keyLive: boolean; keyExpiresAt?: string | null };
  /** For `jobId`. */
  owner?: OwnedJob | null;
  keyCheck?: KeyCheck;
}

/** A job as the proxy recorded it: who owns it, and what the proxy last saw of it. */
export interface OwnedJob {
  id: string;
  tenantId: string;
  subject: string | null;
  type: string;
  fileName: string;
  createdAt: string;
  status: JobStatus;
  pages: number;
}

export interface JobFilter {
  tenantId: string;
  subject?: string;
  jobIds?: readonly string[];
}

export interface Usage {
  jobsCreated: number;
  jobsCompleted: number;
  jobsFailed: number;
  pagesBilled: number;
}

export type RecordResult = "recorded" | "duplicate" | "taken";

export interface JobStore {
  /**
   * Records a job the proxy created. Recording an id again keeps the first owner: `duplicate` when
   * that is the same tenant and subject (a retried write), `taken` when it is someone else.
   * `budget` is the end user's own page budget, when their token carries one.
   */
  record(job: OwnedJob, budget?: { endUserPagesPerMonth?: number }): Promise<RecordResult>;
  ownerOf(jobId: string): Promise<OwnedJob | null>;
  /** A page, newest first; `total` counts the matching jobs, but at most `countUpTo`. */
  list(
    filter: JobFilter,
    page: { count: number; offset: number; countUpTo: number },
  ): Promise<{ items: OwnedJob[]; total: number }>;
  /** Gives a job (e.g. one created outside the proxy) to a tenant, replacing any owner. */
  assign(job: OwnedJob, audit?: AuditNote): Promise<void>;
  /**
   * What the proxy saw of a job's progress, whenever it arrives: the status only moves forward
   * (CREATED, then RUNNING or a status Waveline may add, then COMPLETED or FAILED), pages never
   * shrink, and a finished job's record never changes.
   */
  recordProgress(jobId: string, status: JobStatus, pages: number): Promise<BilledPages[]>;
  /** `recordProgress` for many jobs in one write. */
  recordProgressOf(
    progress: readonly { id: string; status: JobStatus; pages: number }[],
  ): Promise<BilledPages[]>;
  /**
   * Every tenant's jobs created since `since` and not finished as last seen (newest first, at
   * most `limit`): what settlement looks for in Waveline's listing.
   */
  unsettledJobs(
    since: string,
    limit: number,
  ): Promise<{ id: string; createdAt: string; status: JobStatus; pages: number }[]>;
  /**
   * Pages billed by the tenant's jobs created in `month` (`2026-12`, UTC), and by `subject`'s when
   * given: running totals, so the cost does not grow with the month's jobs.
   */
  monthlyPages(
    tenantId: string,
    month: string,
    subject?: string,
  ): Promise<{ tenant: number; endUser: number }>;
  /** Jobs created in [from, to) and the pages they billed; only `subject`'s when given. */
  usage(tenantId: string, from: string, to: string, subject?: string): Promise<Usage>;
}

/** Pages a progress update added to a tenant's (and end user's) billed pages, for metrics. */
export interface BilledPages {
  tenantId: string;
  subject: string | null;
  pages: number;
}
