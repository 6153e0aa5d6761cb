/**
 * A webhook receiver on 127.0.0.1 for development and tests: it records every POST to
 * `/hooks/<name>` (headers and raw body, to verify signatures with) and answers it as told.
 *
 *   POST /hooks/:name                      a delivery: recorded, answered by the script (200 by default)
 *   PUT  /__control/hooks/:name            {responses: [{status, headers?, delayMs?}]}: the next
 *                                          answers, in order; then 200
 *   GET  /__control/hooks/:name            -> {deliveries: [{at, headers, body}]}
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedDelivery {
  at: number;
  headers: Record<string, string>;
  body: string;
}

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface WebhookReceiver {
  origin: string;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  options: { port?: number; onDelivery?: (name: string, delivery: ReceivedDelivery) => void } = {},
): Promise<WebhookReceiver> {
  const deliveries = new Map<string, ReceivedDelivery[]>();
  const scripts = new Map<string, ScriptedResponse[]>();

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://receiver");
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(json === undefined ? "" : JSON.stringify(json));
    };
    const hook = url.pathname.match(/^\/hooks\/([\w.-]+)$/)?.[1];
    if (hook && req.method === "POST") {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
      );
      const delivery = { at: Date.now(), headers, body };
      deliveries.set(hook, [...(deliveries.get(hook) ?? []), delivery]);
      options.onDelivery?.(hook, delivery);
      const next = scripts.get(hook)?.shift() ?? { status: 200 };
      if (next.delayMs) await new Promise((resolve) => setTimeout(resolve, next.delayMs));
      return send(next.status, { received: true }, next.headers);
    }
    const control = url.pathname.match(/^\/__control\/hooks\/([\w.-]+)$/)?.[1];
    if (control && req.method === "PUT") {
      scripts.set(control, (JSON.parse(body) as { responses: ScriptedResponse[] }).responses);
      return send(204);
    }
    if (control && req.method === "GET") {
      return send(200, { deliveries: deliveries.get(control) ?? [] });
    }
    return send(404, { error: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
