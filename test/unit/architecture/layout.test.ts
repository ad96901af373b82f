/**
 * The layout rule of docs/architecture.md, checked on every import: each top-level folder may import
 * only the folders listed for it. Specifiers are read with TypeScript's own pre-processor, so
 * multi-line imports, `export ... from`, side-effect imports and dynamic `import()` all count.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const MAY_IMPORT = {
  emulator: ["emulator"],
  shared: ["shared"],
  functions: ["functions", "shared"],
  cli: ["cli", "shared", "emulator"],
  scanner: ["scanner", "shared"],
} as const satisfies Record<string, readonly string[]>;

type Folder = keyof typeof MAY_IMPORT;
const FOLDERS = Object.keys(MAY_IMPORT) as Folder[];

function typeScriptFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".ts"))
    .map((path) => join(folder, path))
    .sort();
}

/** Where relative imports of `file` lead, as repository paths (packages are not ours to police). */
function localImports(file: string, source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => normalize(join(dirname(file), specifier)));
}

interface Violation {
  readonly file: string;
  readonly imports: string;
}

function violationsIn(folder: Folder, file: string, source: string): Violation[] {
  const allowed: readonly string[] = MAY_IMPORT[folder];
  return localImports(file, source)
    .filter((target) => {
      const top = target.split("/")[0] ?? "";
      // `..` beyond the repository, or any of our folders not listed for this one.
      return target.startsWith("..") || !allowed.includes(top);
    })
    .map((target) => ({ file, imports: relative(".", target) }));
}

function violationsOf(folder: Folder): Violation[] {
  return typeScriptFiles(folder).flatMap((file) => violationsIn(folder, file, readFileSync(file, "utf8")));
}

describe("layout rule (docs/architecture.md)", () => {
  it("reads every kind of import statement", () => {
    const source = [
      'import { a } from "../../shared/a.js";',
      "import {\n  b,\n  c,\n} from '../../emulator/b.js';",
      'import type { T } from "./t.js";',
      'export { d } from "../../functions/d.js";',
      'import "../../scanner/side.js";',
      'const lazy = await import("../lazy.js");',
      'import { z } from "zod";',
    ].join("\n");
    expect(localImports("cli/commands/x.ts", source).sort()).toEqual([
      "cli/commands/t.js",
      "cli/lazy.js",
      "emulator/b.js",
      "functions/d.js",
      "scanner/side.js",
      "shared/a.js",
    ]);
  });

  it("names the file and the import that break the rule", () => {
    const source =
      'import { x } from "../../functions/composition.js";\nimport { y } from "../../shared/y.js";';
    expect(violationsIn("cli", "cli/commands/replay.ts", source)).toEqual([
      { file: "cli/commands/replay.ts", imports: "functions/composition.js" },
    ]);
    expect(violationsIn("shared", "shared/a/b.ts", 'import "../../emulator/x.js";')).toEqual([
      { file: "shared/a/b.ts", imports: "emulator/x.js" },
    ]);
    expect(violationsIn("emulator", "emulator/a.ts", 'import "../../outside.js";')).toHaveLength(1);
  });

  it.each(FOLDERS)("%s imports only what it may", (folder) => {
    expect(typeScriptFiles(folder).length).toBeGreaterThan(0);
    expect(violationsOf(folder), `${folder}/ may import only ${MAY_IMPORT[folder].join(", ")}`).toEqual([]);
  });
});
