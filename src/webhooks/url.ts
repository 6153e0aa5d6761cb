/**
 * Which URLs may receive webhooks. The proxy POSTs to them from inside Cloudflare, so a URL must not
 * point back at anything private: https only, a public host, no credentials. A hostname is not
 * resolved here (a Worker cannot): see SECURITY.md for what that leaves open.
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

/** [first address, prefix length] of every IPv4 range that is not the public internet. */
const PRIVATE_V4: [number, number][] = [
  [ipv4("0.0.0.0"), 8], // "this network"
  [ipv4("10.0.0.0"), 8],
  [ipv4("100.64.0.0"), 10], // carrier-grade NAT
  [ipv4("127.0.0.0"), 8], // loopback
  [ipv4("169.254.0.0"), 16], // link-local, cloud metadata (169.254.169.254)
  [ipv4("172.16.0.0"), 12],
  [ipv4("192.0.0.0"), 24], // IETF protocol assignments
  [ipv4("192.0.2.0"), 24], // documentation
  [ipv4("192.88.99.0"), 24], // 6to4 relay
  [ipv4("192.168.0.0"), 16],
  [ipv4("198.18.0.0"), 15], // benchmarking
  [ipv4("198.51.100.0"), 24], // documentation
  [ipv4("203.0.113.0"), 24], // documentation
  [ipv4("224.0.0.0"), 4], // multicast
  [ipv4("240.0.0.0"), 4], // reserved, broadcast
];

function ipv4(text: string): number {
  return text.split(".").reduce((value, part) => value * 256 + Number(part), 0);
}

export function isPublicIpv4(text: string): boolean {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !(part >= 0 && part <= 255))) return false;
  const address = ipv4(text);
  return !PRIVATE_V4.some(([first, bits]) => {
    const size = 2 ** (32 - bits);
    return address >= first && address < first + size;
  });
}

/** Eight 16-bit groups, or undefined for text that is not an IPv6 address. */
function ipv6Groups(text: string): number[] | undefined {
  let rest = text.toLowerCase();
  const tail: number[] = [];
  // An embedded IPv4 (`::ffff:1.2.3.4`) is two groups.
  const v4 = rest.match(/(\d+\.\d+\.\d+\.\d+)$/)?.[1];
  if (v4) {
    const value = ipv4(v4);
    tail.push(Math.floor(value / 65536), value % 65536);
    rest = rest.slice(0, -v4.length);
    if (rest.endsWith(":") && !rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined) =>
    part
      ? part.split(":").map((group) => (/^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : NaN))
      : [];
  const head = parse(halves[0]);
  const after = [...parse(halves[1]), ...tail];
  const missing = 8 - head.length - after.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<number>(missing).fill(0), ...after];
  return groups.some(Number.isNaN) ? undefined : groups;
}

/**
 * Only global unicast (2000::/3) is public, less documentation (2001:db8::/32), Teredo (2001::/32)
 * and 6to4 (2002::/16), which tunnel to IPv4 addresses that may be private. IPv4-mapped and NAT64
 * addresses are public when their IPv4 address is.
 */
export function isPublicIpv6(text: string): boolean {
  const groups = ipv6Groups(text);
  if (!groups) return false;
  const [first = 0, second = 0] = groups;
  const embeddedV4 = () => {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return [high >> 8, high & 255, low >> 8, low & 255].join(".");
  };
  const zeros = (count: number) => groups.slice(0, count).every((group) => group === 0);
  if (zeros(5) && groups[5] === 0xffff) return isPublicIpv4(embeddedV4());
  if (first === 0x64 && second === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) {
    return isPublicIpv4(embeddedV4());
  }
  if ((first & 0xe000) !== 0x2000) return false;
  if (first === 0x2001 && (second === 0x0db8 || second === 0)) return false;
  return first !== 0x2002;
}
