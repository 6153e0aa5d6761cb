import { DurableObject } from "cloudflare:workers";
import { tenantMetrics } from "../../../core/metrics/actor";
import type { MetricsBatch } from "../../../core/metrics/recorder";
import type { MetricsSeries, SeriesQuery } from "../../../core/metrics/store";
import { durableObjectSql } from "../object-storage";

/**
 * One per tenant (named by tenant id): a shell over the core's `tenantMetrics`
 * (`core/metrics/actor.ts`), kept in this object's SQLite storage.
 */
export class TenantMetrics extends DurableObject {
  private readonly metrics = tenantMetrics({ sql: durableObjectSql(this.ctx.storage) });

  add(batch: MetricsBatch): Promise<void> {
    return this.metrics.add(batch);
  }

  series(query: SeriesQuery): Promise<MetricsSeries> {
    return this.metrics.series(query);
  }
}
