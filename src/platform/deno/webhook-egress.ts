import {
  AddressNotPublicError,
  isLoopbackAddress,
  isPublicAddress,
} from "../../core/webhooks/url.ts";

/** The addresses a name resolves to; none when it has no records or cannot be resolved. */
export type ResolveAddresses = (name: string, signal?: AbortSignal) => Promise<string[]>;

/** A webhook POST as the outbox makes it: its answer's status and headers are all it reads. */
export interface WebhookEgress {
  deliver(url: string, init: RequestInit, allowLocal: boolean): Promise<Response>;
}

/** A (hostile) receiver's answer head is read up to this, never its body. */
const MAX_HEAD_BYTES = 16 * 1024;
const encoder = new TextEncoder();

export const resolveWithDns: ResolveAddresses = async (name, signal) => {
  const answers = await Promise.allSettled([
    Deno.resolveDns(name, "A", { signal }),
    Deno.resolveDns(name, "AAAA", { signal }),
  ]);
  return answers.flatMap((answer) => (answer.status === "fulfilled" ? answer.value : []));
};

/**
 * Webhook delivery on Deno, where nothing around the process keeps a request off the host's
 * network: the URL's name is resolved (A and AAAA) and the POST goes out only if every address is
 * public, over a connection to one of those checked addresses, so no second resolution can
 * answer differently. TLS is started on that connection for the URL's name (certificate checked
 * against it, SNI set), which `fetch` cannot do: it resolves the name itself. Hence HTTP/1.1 by
 * hand, reading only the answer's status line and headers.
 *
 * With `allowLocal` (WEBHOOKS_ALLOW_LOCAL_URLS), `localhost` and `127.0.0.1` may reach loopback.
 */
export function webhookEgress(resolve: ResolveAddresses = resolveWithDns): WebhookEgress {
  const checkedAddresses = async (
    url: URL,
    allowLocal: boolean,
    signal: AbortSignal | undefined,
  ): Promise<string[]> => {
    const host = hostOf(url);
    const literal = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");
    const addresses = literal ? [host] : await resolve(host, signal);
    const local = allowLocal && (host === "localhost" || host === "127.0.0.1");
    const allowed = local ? isLoopbackAddress : isPublicAddress;
    if (addresses.some((address) => !allowed(address))) throw new AddressNotPublicError();
    return addresses;
  };
  return {
    async deliver(target, init, allowLocal) {
      const url = new URL(target);
      const signal = init.signal ?? undefined;
      const addresses = await checkedAddresses(url, allowLocal, signal);
      signal?.throwIfAborted();
      const conn = await connectToOne(url, addresses, signal);
      const abort = () => closeQuietly(conn);
      signal?.addEventListener("abort", abort, { once: true });
      try {
        await writeAll(conn, requestBytes(url, init));
        return await readAnswer(conn);
      } catch (err) {
        signal?.throwIfAborted();
        throw err;
      } finally {
        signal?.removeEventListener("abort", abort);
        closeQuietly(conn);
      }
    },
  };
}

/** The name without brackets (IPv6) or a final dot: what is resolved, and what TLS checks. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

/** The first checked address that accepts; TLS for the URL's name on it for `https:`. */
async function connectToOne(
  url: URL,
  addresses: string[],
  signal: AbortSignal | undefined,
): Promise<Deno.Conn> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  let failure: unknown = new Error("no address to connect to");
  for (const address of addresses) {
    let tcp: Deno.TcpConn | undefined;
    try {
      tcp = await Deno.connect({ hostname: address, port, signal });
      if (url.protocol !== "https:") return tcp;
      return await Deno.startTls(tcp, {
        hostname: hostOf(url),
        alpnProtocols: ["http/1.1"],
      });
    } catch (err) {
      if (tcp) closeQuietly(tcp);
      signal?.throwIfAborted();
      failure = err;
    }
  }
  throw failure;
}

/** A connection the deadline may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

function requestBytes(url: URL, init: RequestInit): Uint8Array {
  const body = encoder.encode(typeof init.body === "string" ? init.body : "");
  const lines = [
    `${init.method ?? "POST"} ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
  ];
  // Headers refuses CR and LF in names and values: nothing here can split the request.
  for (const [name, value] of new Headers(init.headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${body.byteLength}`, "Connection: close", "", "");
  const head = encoder.encode(lines.join("\r\n"));
  const bytes = new Uint8Array(head.byteLength + body.byteLength);
  bytes.set(head);
  bytes.set(body, head.byteLength);
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.byteLength; ) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** The final answer's status and headers (1xx interim answers skipped); its body is not read. */
async function readAnswer(conn: Deno.Conn): Promise<Response> {
  let text = "";
  const decoder = new TextDecoder("latin1");
  const buffer = new Uint8Array(4096);
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const [statusLine = "", ...fields] = text.slice(0, end).split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1]);
      if (!status) throw new Error("not an HTTP/1.1 answer");
      text = text.slice(end + 4);
      if (status >= 100 && status < 200) continue;
      const headers = new Headers();
      for (const field of fields) {
        const colon = field.indexOf(":");
        if (colon > 0) headers.append(field.slice(0, colon).trim(), field.slice(colon + 1).trim());
      }
      return new Response(null, { status, headers });
    }
    if (text.length > MAX_HEAD_BYTES) throw new Error("answer head too large");
    const read = await conn.read(buffer);
    if (read === null) throw new Error("connection closed before an answer");
    text += decoder.decode(buffer.subarray(0, read), { stream: true });
  }
}
