import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../../shared/config/settings.js";

describe("settings list", () => {
  it("local.settings.sample.json lists every setting acr-steward reads, and nothing else of ours", () => {
    const sample = JSON.parse(readFileSync("local.settings.sample.json", "utf8")) as {
      Values: Record<string, string>;
    };
    const ours = Object.keys(sample.Values).filter(
      (name) => !["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"].includes(name),
    );
    expect(ours.sort()).toEqual(SETTINGS.map((s) => s.name).sort());
  });

  it("gives secrets no default value", () => {
    for (const setting of SETTINGS.filter((s) => s.secret)) {
      expect(setting.defaultValue, setting.name).toBeUndefined();
    }
  });
});

describe("docs/operations.md", () => {
  it("documents every setting", () => {
    const doc = readFileSync("docs/operations.md", "utf8");
    for (const setting of SETTINGS) expect(doc, setting.name).toContain(`\`${setting.name}\``);
  });
});
