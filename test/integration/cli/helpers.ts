import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

/** Helpers of the replay/images CLI tests: run `main()` capturing output, fixture copies with their own registries. */

export const ROOT = join(import.meta.dirname, "../../..");
export const EVENT_FIXTURES = join(ROOT, "test/fixtures/events");

/** Runs `acr-steward ARGS` in this process and captures what it prints. */
export { type CliRun, runCli as cli } from "../../helpers/cliRun.js";

export interface FixtureCopy {
  /** Stands in for `contosoregistry` (login server `<name>.azurecr.io`). */
  readonly contoso: string;
  /** Stands in for `jolovcr`, the registry of the two upstream samples. */
  readonly jolo: string;
  readonly dir: string;
  /** Every fixture file, absolute paths, sorted. */
  readonly files: readonly string[];
  write(name: string, content: string): string;
  remove(): void;
}

/**
 * A copy of test/fixtures/events in which the two registries get names no other test uses, so that
 * tests sharing one Azurite (CI) see only their own inventory rows when they filter by registry.
 */
export function copyEventFixtures(): FixtureCopy {
  const suffix = randomBytes(4).toString("hex");
  const contoso = `contoso${suffix}`;
  const jolo = `jolo${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "acr-steward-replay-"));
  const files: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.jsonl?$/.test(name)) {
        const target = join(dir, relative(EVENT_FIXTURES, path));
        mkdirSync(dirname(target), { recursive: true });
        const text = readFileSync(path, "utf8")
          .replaceAll("contosoregistry", contoso)
          .replaceAll("jolovcr", jolo);
        writeFileSync(target, text);
        files.push(target);
      }
    }
  };
  walk(EVENT_FIXTURES);
  files.sort();
  return {
    contoso,
    jolo,
    dir,
    files,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
