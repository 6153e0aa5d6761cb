import { DurableObject } from "cloudflare:workers";
import type { CreationOutcome, Reservation } from "../../../core/creation/idempotency";
import { creationLedger } from "../../../core/creation/ledger";
import type { OwnedJob } from "../../../core/tenancy/store";
import { durableObjectSql } from "../object-storage";
import { creationLedgerServices } from "../services";

/**
 * One per tenant (named by tenant id): a shell over the core's `creationLedger`
 * (`core/creation/ledger.ts`), kept in this object's SQLite storage, its services built once per
 * object by the same factory as the Worker's.
 */
export class CreationLedger extends DurableObject<Env> {
  private readonly ledger = creationLedger({
    sql: durableObjectSql(this.ctx.storage),
    alarm: this.ctx.storage,
    services: creationLedgerServices(this.env),
  });

  reserve(
    scope: string,
    fingerprint: string,
    claim: string,
    lockMs: number,
    ttlMs: number,
  ): Promise<Reservation> {
    return this.ledger.reserve(scope, fingerprint, claim, lockMs, ttlMs);
  }

  settle(scope: string, outcome: CreationOutcome, ttlMs: number): void {
    this.ledger.settle(scope, outcome, ttlMs);
  }

  start(scope: string, claim: string): boolean {
    return this.ledger.start(scope, claim);
  }

  release(scope: string, claim: string): void {
    this.ledger.release(scope, claim);
  }

  holdUnrecorded(
    job: OwnedJob,
    settlement?: { scope: string; outcome: CreationOutcome; ttlMs: number },
  ): Promise<void> {
    return this.ledger.holdUnrecorded(job, settlement);
  }

  /** Jobs still waiting for D1, for operators and tests. */
  unrecordedJobIds(): string[] {
    return this.ledger.unrecordedJobIds();
  }

  /** Writes the held jobs whose turn has come by `now` to D1 (the alarm does it too). */
  recordHeldJobs(now?: number): Promise<void> {
    return this.ledger.recordHeldJobs(now);
  }

  override alarm(): Promise<void> {
    return this.ledger.alarm();
  }
}
