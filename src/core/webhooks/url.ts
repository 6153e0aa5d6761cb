/**
 * Which URLs may receive webhooks. The proxy POSTs to them from inside Cloudflare, so a URL must not
 * point back at anything private: https only, a public host, no credentials. A hostname is not
 * resolved here (a Worker cannot): see SECURITY.md for what that leaves open. Where the runtime
 * can resolve it (Deno), its delivery checks each address with `isPublicAddress`.
 */

export type UrlCheck = { ok: true; url: string } | { ok: false; problem: string };

export const MAX_WEBHOOK_URL_CHARS = 2048;

/** Hostnames and suffixes that name this machine or a private network, never the public internet. */
const PRIVATE_NAMES = /(^|\.)(localhost|internal|local|localdomain|home\.arpa|intranet|lan)$/;

/**
 * `allowLocal` (WEBHOOKS_ALLOW_LOCAL_URLS, development only) also lets `http(s)://127.0.0.1[:port]`
 * and `http(s)://localhost[:port]` through, for a receiver on the developer's machine.
 */
export function checkWebhookUrl(text: string, allowLocal: boolean): UrlCheck {
  if (text.length > MAX_WEBHOOK_URL_CHARS) {
    return { ok: false, problem: `must be at most ${MAX_WEBHOOK_URL_CHARS} characters` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: "must be an absolute https URL" };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, problem: "must not carry credentials" };
  }
  // The URL parser has normalised the host: `0x7f.1` and `2130706433` are `127.0.0.1` by now.
  const host = url.hostname.replace(/\.+$/, "").toLowerCase();
  const local = host === "127.0.0.1" || host === "localhost";
  if (allowLocal && local && (url.protocol === "http:" || url.protocol === "https:")) {
    return { ok: true, url: url.href };
  }
  if (url.protocol !== "https:") return { ok: false, problem: "must be an https URL" };
  if (host.startsWith("[")) {
    if (!isPublicIpv6(host.slice(1, -1))) return { ok: false, problem: "must be a public host" };
  } else if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    if (!isPublicIpv4(host)) return { ok: false, problem: "must be a public host" };
  } else if (!host.includes(".") || PRIVATE_NAMES.test(host)) {
    return { ok: false, problem: "must be a public host" };
  }
  return { ok: true, url: url.href };
}

/**
 * Every IPv4 range that is not the public internet: "this network", private, carrier-grade NAT,
 * loopback, link-local (cloud metadata: 169.254.169.254), IETF, documentation, 6to4 relay,
 * benchmarking, multicast, reserved and broadcast.
 */
const PRIVATE_V4 = (
  "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.0.0/24 " +
  "192.0.2.0/24 192.88.99.0/24 192.168.0.0/16 198.18.0.0/15 198.51.100.0/24 203.0.113.0/24 224.0.0.0/3"
)
  .split(" ")
  .map((range) => {
    const [first = "", bits] = range.split("/");
    return [ipv4(first), 2 ** (32 - Number(bits))] as const;
  });

function ipv4(text: string): number {
  return text.split(".").reduce((value, part) => value * 256 + Number(part), 0);
}

export function isPublicIpv4(text: string): boolean {
  const address = ipv4(text);
  return !PRIVATE_V4.some(([first, size]) => address >= first && address < first + size);
}

/**
 * Only global unicast (2000::/3) is public, less documentation (2001:db8::/32), Teredo (2001::/32)
 * and 6to4 (2002::/16), which tunnel to IPv4 addresses that may be private; IPv4-mapped and NAT64
 * literals are refused too (use the hostname). `text` is as the URL parser writes it: lowercase hex.
 */
export function isPublicIpv6(text: string): boolean {
  const [first = 0, second = 0] = text.startsWith(":")
    ? [0]
    : text.split(":").map((group) => (group === "" ? 0 : parseInt(group, 16)));
  if ((first & 0xe000) !== 0x2000 || first === 0x2002) return false;
  return !(first === 0x2001 && (second === 0x0db8 || second === 0));
}

/** An address a name resolved to, in either family: public by the same rules as a literal. */
export function isPublicAddress(address: string): boolean {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) return isPublicIpv4(address);
  const v6 = ipv6Text(address);
  return v6 !== undefined && isPublicIpv6(v6);
}

/** 127.0.0.0/8 or ::1: what `localhost` may resolve to when local URLs are allowed. */
export function isLoopbackAddress(address: string): boolean {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) return address.startsWith("127.");
  return ipv6Text(address) === "::1";
}

/** IPv6 as the URL parser writes it (compressed, lowercase), which the rules above expect. */
function ipv6Text(address: string): string | undefined {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * A delivery refused because its host resolved to an address that is not public. The delivery
 * log says only this: whether the address would have answered, or exists, is never tried.
 */
export class AddressNotPublicError extends Error {
  constructor() {
    super("address not public");
    this.name = "AddressNotPublicError";
  }
}
