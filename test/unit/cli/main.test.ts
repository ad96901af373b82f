import { describe, expect, it, vi } from "vitest";
import { buildProgram, main } from "../../../cli/main.js";

describe("acr-steward CLI", () => {
  it("prints help with the documented exit codes and returns 0", async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const code = await main(["node", "acr-steward", "--help"]);
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
    }
    const text = out.join("");
    expect(text).toContain("Usage: acr-steward");
    expect(text).toMatch(/Exit codes:[\s\S]*130/);
  });

  it("returns 2 for an unknown command", async () => {
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["node", "acr-steward", "no-such-command"])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });

  it("registers every command with a description", () => {
    for (const command of buildProgram().commands) {
      expect(command.description(), command.name()).not.toBe("");
    }
  });
});
