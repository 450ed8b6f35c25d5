// The configuration variables of issue 11 as the worker parses them (src/config.ts): who may use
// the OCSP endpoint, the fleet keys, the upstream budget and what the CA sees in the User-Agent.

import { describe, expect, it } from "vitest";
import pkg from "../../package.json";
import { configFrom, parseFleetKeys, userAgent } from "../../src/config.ts";
import { DEFAULT_BUDGET } from "../../src/fleet/budget.ts";
import { VERSION } from "../../src/version.ts";

describe("OCSP_ACCESS", () => {
  it.each([
    [undefined, "open"],
    ["", "open"],
    ["open", "open"],
    [" open ", "open"],
    ["registered", "registered"],
    ["registred", "registered"], // a typo closes the endpoint rather than opening it
    ["OPEN", "registered"],
  ])("%j → %s", (value, access) => {
    expect(configFrom(value === undefined ? {} : { OCSP_ACCESS: value }).access).toBe(access);
  });
});

describe("OCSP_KEYS", () => {
  it("unset: the endpoint is open (undefined); set but blank: closed (no key)", () => {
    expect(parseFleetKeys(undefined)).toBeUndefined();
    expect(parseFleetKeys("")).toEqual([]);
    expect(parseFleetKeys("  ")).toEqual([]);
  });
  it("keys separated by commas or white space; malformed ones dropped, never opening it", () => {
    const a = "a".repeat(16);
    const b = "B-b_b.b~b".repeat(2);
    expect(parseFleetKeys(`${a}, ${b}\n short  bad/key/000000000`)).toEqual([a, b]);
    expect(parseFleetKeys("short")).toEqual([]); // set, but nothing usable: closed
    expect(parseFleetKeys("x".repeat(257))).toEqual([]);
  });
});

describe("the upstream budget", () => {
  it("defaults to 40 at once and 60 a minute; positive values override", () => {
    expect(DEFAULT_BUDGET).toEqual({ burst: 40, perMinute: 60 });
    expect(configFrom({}).budget).toEqual(DEFAULT_BUDGET);
    expect(
      configFrom({ UPSTREAM_BUDGET_BURST: "5", UPSTREAM_BUDGET_PER_MINUTE: "0.5" }).budget,
    ).toEqual({ burst: 5, perMinute: 0.5 });
    expect(
      configFrom({ UPSTREAM_BUDGET_BURST: "-1", UPSTREAM_BUDGET_PER_MINUTE: "x" }).budget,
    ).toEqual(DEFAULT_BUDGET);
  });
});

describe("the User-Agent the CA sees", () => {
  it("is the product and version, plus the operator's contact when given", () => {
    expect(VERSION).toBe(pkg.version);
    expect(userAgent(undefined)).toBe(`ocsp-relay/${VERSION}`);
    expect(userAgent("")).toBe(`ocsp-relay/${VERSION}`);
    expect(userAgent("ops@example.net")).toBe(`ocsp-relay/${VERSION} (+ops@example.net)`);
    expect(configFrom({ UPSTREAM_CONTACT: "https://example.net/ocsp" }).userAgent).toBe(
      `ocsp-relay/${VERSION} (+https://example.net/ocsp)`,
    );
  });
  it("carries no control characters or parentheses a contact could smuggle into the header", () => {
    expect(userAgent("a\r\nX-Evil: 1 (b)")).toBe(`ocsp-relay/${VERSION} (+aX-Evil: 1 b)`);
  });
});
