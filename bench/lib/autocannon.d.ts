/** The part of autocannon 9's API the benchmark uses (the package ships no types). */
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }

  interface Client {
    setRequests(requests: Request[]): void;
  }

  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    sampleInt?: number;
    timeout?: number;
    pipelining?: number;
    headers?: Record<string, string>;
    setupClient?: (client: Client) => void;
  }

  interface Histogram {
    average: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
  }

  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: Histogram;
    requests: Histogram & { total: number; sent: number };
    throughput: Histogram & { total: number };
    statusCodeStats: Record<string, { count: number }>;
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
    on(
      event: "response",
      listener: (
        client: Client,
        statusCode: number,
        resBytes: number,
        responseTime: number,
      ) => void,
    ): this;
    on(event: "done", listener: (result: Result) => void): this;
    on(event: "error" | "reqError", listener: (error: Error) => void): this;
  }

  function autocannon(
    options: Options,
    callback?: (err: Error | null, result: Result) => void,
  ): Instance;
  export default autocannon;
}
