import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * The scanner image cannot be built here (no Docker engine), so its promises are checked as text:
 * Node 20, a pinned and verified Trivy, a non-root user, the cache volume and the entry point that
 * the TypeScript build produces.
 */
const dockerfile = readFileSync("scanner/Dockerfile", "utf8");
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));

describe("scanner/Dockerfile", () => {
  it("builds on Node 20 slim in every stage", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.19-bookworm-slim$/m);
    const froms = instructions.filter((line) => line.startsWith("FROM "));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}/);
  });

  it("downloads one pinned Trivy release and verifies its checksum before unpacking", () => {
    expect(dockerfile).toMatch(/^ARG TRIVY_VERSION=\d+\.\d+\.\d+$/m);
    expect(dockerfile).toMatch(/^ARG TRIVY_SHA256=/m);
    const download = instructions.find((line) => line.includes("releases/download/v${TRIVY_VERSION}"));
    expect(download).toBeDefined();
    const text = download ?? "";
    expect(text.indexOf("sha256sum -c")).toBeGreaterThan(-1);
    expect(text.indexOf("sha256sum -c")).toBeLessThan(text.indexOf("tar -xzf"));
  });

  it("runs as a non-root user with the Trivy cache as a volume and the compiled worker as command", () => {
    const runtime = instructions.slice(instructions.map((l) => l.startsWith("FROM ")).lastIndexOf(true));
    expect(runtime).toContain("USER 10001:10001");
    expect(runtime).toContain('VOLUME ["/var/cache/trivy"]');
    expect(runtime.at(-1)).toBe('CMD ["node", "dist/scanner/main.js"]');
    expect(
      runtime.some((line) => line.startsWith("COPY --from=trivy") && line.endsWith("/usr/local/bin/trivy")),
    ).toBe(true);
  });

  it("compiles with the build configuration that emits dist/scanner/main.js", () => {
    const build = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as { include: string[] };
    const base = JSON.parse(readFileSync("tsconfig.json", "utf8")) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(build.include).toEqual(expect.arrayContaining(["shared", "scanner"]));
    expect(base.compilerOptions).toMatchObject({ outDir: "dist", rootDir: "." });
    expect(instructions).toContain(
      "RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts",
    );
  });
});
