import { describe, expect, it } from "vitest";
import { checkWebhookUrl, isLoopbackAddress, isPublicAddress, MAX_WEBHOOK_URL_CHARS } from "./url";

const accepted = (url: string, allowLocal = false) => checkWebhookUrl(url, allowLocal).ok;

describe("checkWebhookUrl", () => {
  it("accepts an https URL on a public name or address, normalised", () => {
    expect(checkWebhookUrl("https://Hooks.Example.com/in?x=1", false)).toEqual({
      ok: true,
      url: "https://hooks.example.com/in?x=1",
    });
    expect(accepted("https://93.184.216.34/hook")).toBe(true);
    expect(accepted("https://[2606:4700:4700::1111]/hook")).toBe(true);
  });

  it("refuses what is not https, not a URL, too long, or carries credentials", () => {
    expect(checkWebhookUrl("http://hooks.example.com/", false)).toEqual({
      ok: false,
      problem: "must be an https URL",
    });
    expect(accepted("hooks.example.com/in")).toBe(false);
    expect(accepted("ftp://hooks.example.com/")).toBe(false);
    expect(accepted("https://user:pass@hooks.example.com/")).toBe(false);
    const long = `https://hooks.example.com/${"a".repeat(MAX_WEBHOOK_URL_CHARS)}`;
    expect(accepted(long)).toBe(false);
  });

  it("refuses private IPv4 addresses in every spelling the URL parser accepts", () => {
    for (const host of [
      "127.0.0.1",
      "2130706433",
      "0x7f.1",
      "017700000001",
      "10.0.0.5",
      "172.16.3.4",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "198.18.0.1",
    ]) {
      expect(accepted(`https://${host}/`), host).toBe(false);
    }
  });

  it("refuses IPv6 outside global unicast, documentation, tunnels and mapped IPv4", () => {
    for (const host of [
      "::1",
      "::",
      "fd00::1",
      "fe80::1",
      "2001:db8::1",
      "2001::1",
      "2002::1",
      "::ffff:10.0.0.5",
      "64:ff9b::a00:5",
    ]) {
      expect(accepted(`https://[${host}]/`), host).toBe(false);
    }
  });

  it("refuses names of this machine or a private network, and single labels", () => {
    for (const host of [
      "localhost",
      "api.localhost",
      "db.internal",
      "printer.local",
      "nas.home.arpa",
      "box.lan",
      "intranet",
      "wiki.intranet",
    ]) {
      expect(accepted(`https://${host}/`), host).toBe(false);
    }
  });

  it("with allowLocal, lets http(s) on 127.0.0.1 and localhost through, nothing else private", () => {
    expect(accepted("http://127.0.0.1:8080/hook", true)).toBe(true);
    expect(accepted("http://localhost:3000/hook", true)).toBe(true);
    expect(accepted("http://127.0.0.1:8080/hook", false)).toBe(false);
    expect(accepted("http://10.0.0.5/hook", true)).toBe(false);
    expect(accepted("http://api.localhost/hook", true)).toBe(false);
  });
});

describe("isPublicAddress", () => {
  it("applies the literal rules to resolved addresses of both families", () => {
    expect(isPublicAddress("93.184.216.34")).toBe(true);
    expect(isPublicAddress("2606:4700:4700::1111")).toBe(true);
    for (const address of [
      "10.0.0.5",
      "127.0.0.1",
      "169.254.169.254",
      "FD00::1",
      "::1",
      "::ffff:93.184.216.34",
      "2001:DB8::1",
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
  });

  it("refuses what is not an address", () => {
    expect(isPublicAddress("not an address")).toBe(false);
    expect(isPublicAddress("")).toBe(false);
  });
});

describe("isLoopbackAddress", () => {
  it("is 127.0.0.0/8 and ::1, however written", () => {
    expect(isLoopbackAddress("127.0.0.1")).toBe(true);
    expect(isLoopbackAddress("127.1.2.3")).toBe(true);
    expect(isLoopbackAddress("::1")).toBe(true);
    expect(isLoopbackAddress("0:0:0:0:0:0:0:1")).toBe(true);
    expect(isLoopbackAddress("10.0.0.1")).toBe(false);
    expect(isLoopbackAddress("::2")).toBe(false);
  });
});
