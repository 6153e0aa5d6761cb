import type { Clock, ObjectStorage } from "../objects";
import {
  type BucketName,
  type BucketState,
  type Decision,
  returnToken,
  takeTokens,
  takeWithinShare,
} from "./bucket";
import type { EndUserShare } from "./share";

/** Storage key of the tenant's open event streams: lease id -> when it lapses unclosed. */
const STREAMS = "streams";
/** Storage keys of end users' buckets: `share/<bucket>/<user>`. */
const SHARE_PREFIX = "share/";
/** A bucket untouched this long is full again, as good as none: its key is deleted. */
export const FULL_AFTER_MS = 60_000;

/** An open stream: when it lapses unclosed, and whose share it spends (a bare number: none). */
type StreamLease = number | { until: number; user: string };
const untilOf = (lease: StreamLease) => (typeof lease === "number" ? lease : lease.until);

export interface TenantLimiterPorts {
  storage: ObjectStorage;
  now?: Clock;
  newLeaseId?: () => string;
}

export type TenantLimiter = ReturnType<typeof tenantLimiter>;

/**
 * One tenant's counters (one actor per tenant id): every location asks the same actor, which
 * handles one call at a time, so its counts are exact. State is kept in its storage too, so an
 * evicted actor does not hand out a fresh burst. A refusal writes nothing: the state it would
 * write is the one stored.
 */
export function tenantLimiter({
  storage,
  now = () => Date.now(),
  newLeaseId = () => crypto.randomUUID(),
}: TenantLimiterPorts) {
  const buckets = new Map<string, BucketState>();

  const bucket = async (key: string) => buckets.get(key) ?? (await storage.get<BucketState>(key));

  const save = async (states: Record<string, BucketState>) => {
    for (const [key, state] of Object.entries(states)) buckets.set(key, state);
    await storage.put(states);
    const sharesSaved = Object.keys(states).some((key) => key.startsWith(SHARE_PREFIX));
    if (sharesSaved && (await storage.getAlarm()) === null) {
      await storage.setAlarm(now() + FULL_AFTER_MS);
    }
  };

  const leases = async () => (await storage.get<Record<string, StreamLease>>(STREAMS)) ?? {};

  return {
    async take(
      name: BucketName,
      want: number,
      limitPerMinute: number,
      partial: boolean,
      share?: EndUserShare,
    ): Promise<Decision> {
      const at = now();
      const saved = await bucket(name);
      if (!share) {
        const { state, decision } = takeTokens(saved, { want, limitPerMinute, partial, now: at });
        if (decision.granted > 0) await save({ [name]: state });
        return decision;
      }
      const userKey = `${SHARE_PREFIX}${name}/${share.user}`;
      const taken = takeWithinShare(
        { tenant: saved, user: await bucket(userKey) },
        { want, limitPerMinute, share: share.limit, partial, now: at },
      );
      if (taken.decision.granted > 0) {
        await save({ [name]: taken.tenant, [userKey]: taken.user });
      }
      return taken.decision;
    },

    /**
     * Claims one of the tenant's `limit` open streams for at most `leaseMs`, and one of the end
     * user's `share.limit`; null when all are taken. Leases are stored, so an actor evicted while
     * streams stay open still counts them.
     */
    async openStream(limit: number, leaseMs: number, share?: EndUserShare): Promise<string | null> {
      const at = now();
      const open = await leases();
      for (const [id, lease] of Object.entries(open)) if (untilOf(lease) <= at) delete open[id];
      const all = Object.values(open);
      if (all.length >= limit) return null;
      if (share) {
        const mine = all.filter((lease) => typeof lease !== "number" && lease.user === share.user);
        if (mine.length >= share.limit) return null;
      }
      const id = newLeaseId();
      open[id] = share ? { until: at + leaseMs, user: share.user } : at + leaseMs;
      await storage.put({ [STREAMS]: open });
      return id;
    },

    async closeStream(leaseId: string): Promise<void> {
      const open = await leases();
      delete open[leaseId];
      await storage.put({ [STREAMS]: open });
    },

    async openStreams(): Promise<number> {
      const at = now();
      return Object.values(await leases()).filter((lease) => untilOf(lease) > at).length;
    },

    /** Gives back a token taken for a request that then did nothing billable. */
    async refund(name: BucketName, limitPerMinute: number, share?: EndUserShare): Promise<void> {
      const at = now();
      const states: Record<string, BucketState> = {
        [name]: returnToken(await bucket(name), { limitPerMinute, now: at }),
      };
      if (share) {
        const userKey = `${SHARE_PREFIX}${name}/${share.user}`;
        const user = await bucket(userKey);
        states[userKey] = returnToken(user, { limitPerMinute: share.limit, now: at });
      }
      await save(states);
    },

    /** Deletes the end users' buckets that are full again, so storage does not grow with them. */
    async alarm(): Promise<void> {
      const stale = now() - FULL_AFTER_MS;
      const shares = await storage.list<BucketState>({ prefix: SHARE_PREFIX });
      const full = [...shares].filter(([, state]) => state.updatedAt <= stale).map(([key]) => key);
      for (const key of full) buckets.delete(key);
      if (full.length > 0) await storage.delete(full);
      if (shares.size > full.length) await storage.setAlarm(now() + FULL_AFTER_MS);
    },
  };
}
