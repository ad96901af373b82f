import { describe, expect, it } from "vitest";
import { type CliIo, createProgress, formatBytes, renderTable, shortDigest } from "../../../cli/output.js";

function captureIo(tty: boolean): { io: CliIo; err: string[] } {
  const err: string[] = [];
  return {
    err,
    io: {
      stdout: { write: () => true },
      stderr: { write: (text: string) => err.push(text), isTTY: tty, columns: 40 },
      stdin: process.stdin,
      setExitCode: () => undefined,
    },
  };
}

describe("renderTable", () => {
  it("aligns columns, right-aligns numbers and strips control characters", () => {
    const text = renderTable<{ name: string; size: number }>(
      [
        { header: "NAME", value: (r) => r.name },
        { header: "SIZE", value: (r) => String(r.size), align: "right" },
      ],
      [
        { name: "a", size: 1234 },
        { name: "long\u001b[31mname", size: 5 },
      ],
    );
    expect(text).toBe("NAME           SIZE\na              1234\nlong?[31mname     5\n");
  });
});

describe("formatting", () => {
  it("formats bytes and digests for tables", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(undefined)).toBe("?");
    expect(shortDigest(`sha256:${"ab".repeat(32)}`)).toBe("sha256:abababababab");
  });
});

describe("createProgress", () => {
  it("redraws one line on a terminal and clears it when done", () => {
    let now = 0;
    const { io, err } = captureIo(true);
    const progress = createProgress(io, "listing", { now: () => now });
    progress.update("1 manifests");
    now = 50;
    progress.update("2 manifests");
    now = 200;
    progress.update("3 manifests");
    progress.done();
    expect(err).toEqual(["\r\x1b[2Klisting: 1 manifests", "\r\x1b[2Klisting: 3 manifests", "\r\x1b[2K"]);
  });

  it("writes occasional plain lines when stderr is not a terminal, and nothing when quiet", () => {
    let now = 0;
    const plain = captureIo(false);
    const progress = createProgress(plain.io, "listing", { now: () => now, plainIntervalMs: 1000 });
    progress.update("1");
    now = 1000;
    progress.update("2");
    now = 1500;
    progress.update("3");
    progress.done();
    expect(plain.err).toEqual(["listing: 2\n"]);

    const quiet = captureIo(false);
    const silent = createProgress(quiet.io, "listing", { now: () => now, quiet: true });
    now = 10_000;
    silent.update("x");
    expect(quiet.err).toEqual([]);
  });
});
