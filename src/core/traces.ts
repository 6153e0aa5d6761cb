/** Values a trace attribute may hold: what OpenTelemetry's attributes take, arrays aside. */
export type SpanAttributes = Record<string, string | number | boolean>;

/**
 * Where a runtime's tracing takes what the proxy knows of a request (its tenant, route, cache
 * result, upstream call): the runtime's own span of the request, where it has one. Only what
 * `spanAttributesOf` (src/http/logger.ts) lets through reaches it: never a credential.
 */
export interface RequestTraces {
  /** Adds `attributes` to the span of the request being served, and names it `name`. */
  annotate(attributes: SpanAttributes, name?: string): void;
}

/** Where the runtime traces nothing the proxy could add to (Workers: see README, "Traces"). */
export const NO_TRACES: RequestTraces = { annotate() {} };
