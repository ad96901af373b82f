import { describe, expect, it } from "vitest";
import { allowListFor, decodeDeliveryText, describeProblem } from "../../../cli/commands/replay.js";
import { ConfigurationError, ValidationError } from "../../../shared/errors/index.js";

describe("replay: which files are JSON", () => {
  it("parses a JSON document (with or without a byte-order mark)", () => {
    expect(decodeDeliveryText('\uFEFF[{"id":"1"}]\n')).toEqual({ ok: true, body: [{ id: "1" }] });
    expect(decodeDeliveryText('{"action":"push"}')).toEqual({ ok: true, body: { action: "push" } });
  });

  it("passes JSON lines on as text, even with a broken line (that line becomes a rejected event)", () => {
    const text = '{"id":"1"}\n{"id": broken\n{"id":"3"}\n';
    expect(decodeDeliveryText(text)).toEqual({ ok: true, body: text.trim() });
  });

  it("passes a base64 queue message on as text", () => {
    const message = Buffer.from('[{"id":"1"}]').toString("base64");
    expect(decodeDeliveryText(message)).toEqual({ ok: true, body: message });
  });

  it("refuses empty files, prose, and pretty-printed JSON that is cut short", () => {
    expect(decodeDeliveryText("  \n")).toEqual({ ok: false, reason: "the file is empty, not JSON" });
    const prose = decodeDeliveryText("pushed team-a/api:v1 this morning\nand deleted v0\n");
    expect(prose.ok).toBe(false);
    const cut = decodeDeliveryText('[\n  {\n    "id": "1",\n    "eventType": "x"\n');
    expect(cut).toMatchObject({ ok: false, reason: expect.stringMatching(/^not JSON or JSON lines \(/) });
  });
});

describe("replay: the allow-list", () => {
  it("takes --registries over ACR_STEWARD_REGISTRIES, lower-cased and without duplicates", () => {
    const env = { ACR_STEWARD_REGISTRIES: "configured.azurecr.io" };
    expect(allowListFor(" A.azurecr.io, b.azurecr.io,a.azurecr.io ,", env)).toEqual([
      "a.azurecr.io",
      "b.azurecr.io",
    ]);
    expect(allowListFor(undefined, env)).toEqual(["configured.azurecr.io"]);
  });

  it("refuses to run without one, and names the flag or setting with a bad entry", () => {
    expect(() => allowListFor(undefined, {})).toThrow(ConfigurationError);
    expect(() => allowListFor(undefined, {})).toThrow(/pass --registries .* or set ACR_STEWARD_REGISTRIES/);
    expect(() => allowListFor(" , ", {})).toThrow("--registries: name at least one registry login server");
    expect(() => allowListFor("good.azurecr.io,https://bad/x", {})).toThrow(ValidationError);
    expect(() => allowListFor("good.azurecr.io,https://bad/x", {})).toThrow(
      "--registries: 'https://bad/x' is not a registry login server",
    );
    expect(() => allowListFor(undefined, { ACR_STEWARD_REGISTRIES: "no spaces allowed" })).toThrow(
      /^ACR_STEWARD_REGISTRIES: /,
    );
  });
});

describe("replay: problem lines", () => {
  it("name the file and JSON path first, then the line and event id when known", () => {
    expect(
      describeProblem("events.json", {
        path: "$[3].data.target.digest",
        eventId: "e3",
        message: "bad digest",
      }),
    ).toBe("events.json $[3].data.target.digest (event e3): bad digest");
    expect(describeProblem("dl.jsonl", { path: "$[1]", line: 2, message: "line 2 is not JSON" })).toBe(
      "dl.jsonl $[1] (line 2): line 2 is not JSON",
    );
    expect(describeProblem("q.json", { path: "$", message: "quarantine" }, "skipped")).toBe(
      "q.json $: skipped: quarantine",
    );
  });
});
