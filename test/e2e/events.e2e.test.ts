import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "./test-stack";

/**
 * Live updates over real HTTP, as a browser or a backend gets them from `wrangler dev`: the job
 * watcher's stream of a job the fake Waveline moves CREATED -> RUNNING -> COMPLETED by itself.
 */
describe("GET /jobs/{id}/events end to end", () => {
  let stack: TestStack;
  let key: string;
  let otherKey: string;

  const call = (path: string, init: RequestInit = {}, credential?: string) => {
    const headers = new Headers(init.headers);
    if (credential) headers.set("Authorization", `Bearer ${credential}`);
    if (init.body) headers.set("Content-Type", "application/json");
    return fetch(`${stack.proxyUrl}${path}`, { ...init, headers });
  };
  const admin = async (path: string, body: unknown) =>
    (
      await call(path, { method: "POST", body: JSON.stringify(body) }, stack.vars.ADMIN_TOKEN)
    ).json();

  beforeAll(async () => {
    // One open stream per tenant, so the cap is quick to reach.
    stack = await startTestStack({ STREAMS_PER_TENANT: "1" });
    const keys: string[] = [];
    for (const name of ["streamer", "other"]) {
      const tenant = (await admin("/admin/tenants", { name, allowedOrigins: [] })) as {
        id: string;
      };
      keys.push(
        ((await admin(`/admin/tenants/${tenant.id}/keys`, { name: "k" })) as { key: string }).key,
      );
    }
    [key = "", otherKey = ""] = keys;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function createJob(credential = key): Promise<string> {
    const created = await call(
      "/extract-document",
      {
        method: "POST",
        body: JSON.stringify({ fileName: "live.txt", contentType: "text/plain", content: "a b c" }),
      },
      credential,
    );
    expect(created.status).toBe(201);
    return ((await created.json()) as { id: string }).id;
  }

  /** Every `event: job` of a stream until it ends, as [status, ...]. */
  async function statusesOf(response: Response): Promise<string[]> {
    const text = await response.text();
    return text
      .split("\n\n")
      .filter((block) => block.includes("event: job"))
      .map((block) => {
        const data = block.split("\n").find((line) => line.startsWith("data: ")) ?? "data: {}";
        return (JSON.parse(data.slice(6)) as { status: string }).status;
      });
  }

  it("delivers the job's statuses in order and ends after COMPLETED", async () => {
    const id = await createJob();

    const response = await call(`/jobs/${id}/events`, {}, key);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const statuses = await statusesOf(response);
    expect(statuses.at(-1)).toBe("COMPLETED");
    const order = ["CREATED", "RUNNING", "COMPLETED"];
    expect(statuses.map((s) => order.indexOf(s))).toEqual(
      [...statuses.map((s) => order.indexOf(s))].sort(),
    );
    expect(new Set(statuses).size).toBe(statuses.length);
  });

  it("stops an EventSource that never calls close() once it has the terminal event", async () => {
    const id = await createJob();
    const minted = await call("/tokens", { method: "POST", body: JSON.stringify({}) }, key);
    const { token } = (await minted.json()) as { token: string };
    const answers: number[] = [];
    const source = new EventSource(
      `${stack.proxyUrl}/jobs/${id}/events?access_token=${encodeURIComponent(token)}`,
      {
        fetch: async (url, init) => {
          const response = await fetch(url, init);
          answers.push(response.status);
          return response;
        },
      },
    );
    const statuses: string[] = [];
    source.addEventListener("job", (event) => {
      statuses.push((JSON.parse(event.data) as { status: string }).status);
    });
    const stopped = new Promise<void>((resolve) => {
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED) resolve();
      });
    });

    // The job takes a few seconds; then, longer than the stream's reconnection hint (2 s).
    await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    source.close();

    expect(statuses.at(-1)).toBe("COMPLETED");
    expect(source.readyState).toBe(EventSource.CLOSED);
    expect(answers).toEqual([200, 204]);
  });

  it("answers a reconnect whose Last-Event-ID names the terminal event 204, and one before it the end", async () => {
    const id = await createJob();
    const first = await call(`/jobs/${id}/events`, {}, key);
    const text = await first.text();
    const lastId = [...text.matchAll(/^id: (.+)$/gm)].at(-1)?.[1];
    expect(lastId).toMatch(/^COMPLETED\./);
    // Nothing follows the terminal event: no `retry:` hint inviting a reconnect.
    expect(text.trimEnd().endsWith("}")).toBe(true);

    const afterEnd = await call(
      `/jobs/${id}/events`,
      { headers: { "Last-Event-ID": lastId ?? "" } },
      key,
    );
    const beforeEnd = await call(
      `/jobs/${id}/events`,
      { headers: { "Last-Event-ID": "RUNNING.1" } },
      key,
    );

    expect(afterEnd.status).toBe(204);
    expect(await afterEnd.text()).toBe("");
    expect(beforeEnd.status).toBe(200);
    expect(await statusesOf(beforeEnd)).toEqual(["COMPLETED"]);
  });

  it("answers another tenant's job with the JSON 404, before any stream", async () => {
    const id = await createJob();

    const response = await call(`/jobs/${id}/events`, {}, otherKey);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "job not found", code: "job_not_found" });
  });

  it("takes a browser token in ?access_token= and refuses an API key there", async () => {
    const id = await createJob();
    const minted = await call("/tokens", { method: "POST", body: JSON.stringify({}) }, key);
    const { token } = (await minted.json()) as { token: string };

    const withToken = await call(`/jobs/${id}/events?access_token=${encodeURIComponent(token)}`);
    const withKey = await call(`/jobs/${id}/events?access_token=${encodeURIComponent(key)}`);

    expect(withToken.status).toBe(200);
    expect(await statusesOf(withToken)).toContain("COMPLETED");
    expect(withKey.status).toBe(400);
  });

  it("answers 429 once the tenant has STREAMS_PER_TENANT streams open", async () => {
    const id = await createJob();
    const controller = new AbortController();
    const open = await call(`/jobs/${id}/events`, { signal: controller.signal }, key);
    expect(open.status).toBe(200);

    const refused = await call(`/jobs/${id}/events`, {}, key);

    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: "too many open streams: at most 1 per tenant",
      code: "too_many_streams",
    });
    controller.abort();
  });
});
