import { Agent, type IncomingHttpHeaders, request } from "node:http";

/** One request of the load, as the driver sends it. */
export interface Outgoing {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** What came back: the whole body, so every byte can be checked for secrets. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

export interface LoadClient {
  send(outgoing: Outgoing): Promise<Answer>;
  close(): void;
}

/**
 * HTTP/1.1 over exactly `connections` keep-alive sockets to one 127.0.0.1 origin: requests beyond
 * that wait for a free socket, as they would behind a browser's or a backend's connection pool.
 */
export function loadClient(baseUrl: string, connections: number, timeoutMs: number): LoadClient {
  const url = new URL(baseUrl);
  if (url.hostname !== "127.0.0.1")
    throw new Error(`the load test only targets 127.0.0.1: ${baseUrl}`);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: connections,
    maxFreeSockets: connections,
  });

  const send = (outgoing: Outgoing) =>
    new Promise<Answer>((resolve, reject) => {
      const started = performance.now();
      const headers: Record<string, string> = { ...outgoing.headers };
      if (outgoing.body !== undefined) {
        headers["Content-Type"] ??= "application/json";
        headers["Content-Length"] = String(Buffer.byteLength(outgoing.body));
      }
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: outgoing.method,
          path: outgoing.path,
          headers,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString("utf8"),
              ms: performance.now() - started,
            }),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(outgoing.body);
    });

  return { send, close: () => agent.destroy() };
}
