import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { CONFIG_NAMES } from "../src/core/config";

describe("wrangler.toml", () => {
  // With [secrets] declared, `wrangler dev` drops from .dev.vars (and --env-file) every name that
  // is neither a required secret nor in [vars]: a test's or a developer's setting would be ignored.
  it("names every variable the proxy reads, in [vars] or as a required secret", () => {
    const config = unstable_readConfig({ config: "wrangler.toml" });
    const named = [...Object.keys(config.vars), ...(config.secrets?.required ?? [])];
    expect(CONFIG_NAMES.filter((name) => !named.includes(name))).toEqual([]);
  });
});
