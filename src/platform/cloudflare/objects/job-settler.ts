import { DurableObject } from "cloudflare:workers";
import { carryOverSettlerTables, jobSettler } from "../../../core/creation/settler";
import { durableObjectSql, durableObjectStorage } from "../object-storage";
import { jobSettlerServices } from "../services";

/**
 * The account's one settler (named `account`): a shell over the core's `jobSettler`
 * (`core/creation/settler.ts`), kept in this object's storage, its services built once per
 * object by the same factory as the Worker's. An alarm runs by itself under `wrangler dev`,
 * Miniflare and the Deno server alike.
 */
export class JobSettler extends DurableObject<Env> {
  private readonly settler = jobSettler({
    storage: durableObjectStorage(this.ctx.storage),
    services: jobSettlerServices(this.env),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Counts an older settler kept in SQL tables, carried over before its first call or alarm.
    void ctx.blockConcurrencyWhile(() =>
      carryOverSettlerTables(durableObjectSql(ctx.storage), durableObjectStorage(ctx.storage)),
    );
  }

  /** A job may need settling: the alarm runs within SETTLE_EVERY_MS (sooner if already set). */
  wake(): Promise<void> {
    return this.settler.wake();
  }

  override alarm(): Promise<void> {
    return this.settler.alarm();
  }
}
