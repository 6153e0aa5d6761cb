import { trace } from "@opentelemetry/api";
import type { RequestTraces } from "../../core/traces.ts";

/**
 * The proxy's facts of a request on the span Deno's built-in OpenTelemetry opened for it
 * (`Deno.serve`'s own, with `OTEL_DENO=true`): Deno registers its tracer with
 * `@opentelemetry/api`, so the active span here is that one. Without tracing there is none,
 * and this does nothing.
 */
export function activeSpanTraces(): RequestTraces {
  return {
    annotate(attributes, name) {
      const span = trace.getActiveSpan();
      if (!span?.isRecording()) return;
      span.setAttributes(attributes);
      if (name) span.updateName(name);
    },
  };
}
