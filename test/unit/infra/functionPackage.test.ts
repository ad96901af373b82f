/**
 * The function app package (`func azure functionapp publish`, `azd deploy`) must hold the compiled
 * functions and their runtime dependencies, and nothing that only serves development or holds local
 * secrets. .funcignore is read by two kinds of matcher: git-style (a bare name matches at any depth)
 * and Core Tools' (every pattern is matched from the package root, as a prefix). The file has to
 * mean the same under both, so each case is checked under both readings.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import ignore from "ignore";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const funcignore = readFileSync(".funcignore", "utf8");

/** git-style matching (the `ignore` package implements the gitignore rules). */
const gitStyle = ignore().add(funcignore);

/**
 * Root-anchored prefix matching: a leading "/" is dropped, "**" spans folders, "*" stays within one,
 * and a path is excluded when it starts with an excluded pattern and no "!" pattern.
 */
function rootAnchoredMatcher(patterns: string): (path: string) => boolean {
  const toRegex = (pattern: string) =>
    pattern
      .replace(/^\//, "")
      .replace(/[-[\]/{}()+?.\\^$|]/g, "\\$&")
      .split("**")
      .map((part) => part.replace(/\*/g, "[^/]+"))
      .join(".+");
  const lines = patterns
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const build = (list: string[]) =>
    list.length === 0 ? /$^/ : new RegExp(`^((${list.map(toRegex).join(")|(")}))`);
  const positive = build(lines.filter((line) => !line.startsWith("!")));
  const negative = build(lines.filter((line) => line.startsWith("!")).map((line) => line.slice(1)));
  return (path) => positive.test(path) && !negative.test(path);
}
const rootAnchored = rootAnchoredMatcher(funcignore);

function excludedUnderBoth(path: string): { git: boolean; rootAnchored: boolean } {
  return { git: gitStyle.ignores(path), rootAnchored: rootAnchored(path) };
}

const trackedFiles = execFileSync("git", ["ls-files"], { encoding: "utf8" }).split("\n").filter(Boolean);
const functionSources = readdirSync("functions").filter((name) => name.endsWith(".ts"));

describe(".funcignore", () => {
  it("keeps the compiled functions, host.json, package.json and runtime dependencies", () => {
    const kept = [
      "host.json",
      "package.json",
      "package-lock.json",
      "dist/functions/ingestRegistryEvents.js",
      "dist/functions/api.js",
      "dist/shared/config/settings.js",
      "dist/shared/inventory/store.js",
      "node_modules/@azure/functions/package.json",
      "node_modules/@azure/data-tables/dist/commonjs/index.js",
      "node_modules/zod/package.json",
      ...functionSources.map((name) => `dist/functions/${name.replace(/\.ts$/, ".js")}`),
    ];
    for (const path of kept)
      expect(excludedUnderBoth(path), path).toEqual({ git: false, rootAnchored: false });
  });

  it("leaves out TypeScript sources, tests, tooling, infrastructure and local settings", () => {
    const excluded = [
      ...trackedFiles.filter((path) =>
        /^(functions|shared|cli|emulator|scanner|test|bench|bin|scripts|infra|docs|\.ci)\//.test(path),
      ),
      ...trackedFiles.filter((path) => !path.includes("/") && path.endsWith(".ts")),
      "local.settings.json",
      "local.settings.sample.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "azure.yaml",
      ".bicep-cli/bicep",
      "node_modules/typescript/lib/tsc.js",
      "node_modules/@biomejs/biome/package.json",
      "node_modules/vitest/package.json",
      "node_modules/.bin/tsc",
    ];
    expect(excluded.length).toBeGreaterThan(20);
    for (const path of excluded)
      expect(excludedUnderBoth(path), path).toEqual({ git: true, rootAnchored: true });
  });

  it("the two readings disagree where expected: a bare name is anchored only under Core Tools", () => {
    // Guards the reason every pattern starts with "/": without it dist/functions/ would be dropped.
    expect(ignore().add("functions/").ignores("dist/functions/api.js")).toBe(true);
    expect(rootAnchoredMatcher("functions/")("dist/functions/api.js")).toBe(false);
  });
});

describe("package entry point", () => {
  it("package.json main points at the compiled functions that tsconfig.build.json emits", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
      main: string;
      scripts: Record<string, string>;
    };
    expect(pkg.main).toBe("dist/functions/*.js");
    expect(pkg.scripts.build).toContain("tsconfig.build.json");
    const build = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as {
      extends?: string;
      include: string[];
      compilerOptions?: { outDir?: string; rootDir?: string; noEmit?: boolean };
    };
    const base = JSON.parse(readFileSync(build.extends ?? "tsconfig.json", "utf8")) as {
      compilerOptions: { outDir?: string; rootDir?: string };
    };
    const options = { ...base.compilerOptions, ...build.compilerOptions };
    expect(build.include).toContain("functions");
    expect(build.include).toContain("shared");
    expect(options.noEmit).not.toBe(true);
    // rootDir "." + outDir "dist": functions/x.ts compiles to dist/functions/x.js, which main matches.
    expect(options.rootDir).toBe(".");
    expect(options.outDir).toBe("dist");
  });

  it("host.json uses the v4 extension bundle", () => {
    const host = JSON.parse(readFileSync("host.json", "utf8")) as {
      version: string;
      extensionBundle: { id: string; version: string };
    };
    expect(host.version).toBe("2.0");
    expect(host.extensionBundle).toEqual({
      id: "Microsoft.Azure.Functions.ExtensionBundle",
      version: "[4.*, 5.0.0)",
    });
  });

  it("azure.yaml deploys the functions as a locally built package and the scanner from scanner/Dockerfile", () => {
    const project = parseYaml(readFileSync("azure.yaml", "utf8")) as {
      infra: { path: string; module: string };
      services: Record<
        string,
        { host: string; language: string; remoteBuild?: boolean; docker?: { path: string } }
      >;
    };
    expect(project.infra).toMatchObject({ path: "infra", module: "main" });
    expect(project.services.functions).toMatchObject({
      host: "function",
      language: "ts",
      remoteBuild: false,
    });
    expect(project.services.scanner).toMatchObject({
      host: "containerapp",
      docker: { path: "scanner/Dockerfile" },
    });
  });
});
