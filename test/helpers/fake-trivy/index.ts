import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Helpers for tests that run the stand-in trivy (./trivy, implemented in ./fakeTrivy.mjs). */

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");

/** The executable to configure as `trivyPath`. */
export const FAKE_TRIVY_PATH = path.join(here, "trivy");

/** The real Trivy reports: `../shared/fixtures/trivy` beside the repository (overridable like the stand-in). */
export const TRIVY_FIXTURES_DIR =
  process.env.FAKE_TRIVY_FIXTURES ?? path.resolve(repoRoot, "../shared/fixtures/trivy");

/** One call of the stand-in as it recorded it (credential presence only, never values). */
export interface FakeTrivyCall {
  readonly argv: string[];
  readonly command: string | null;
  readonly mode: string;
  readonly credentials: {
    readonly username: boolean;
    readonly password: boolean;
    readonly registryToken: boolean;
    readonly usernameIsAcrTokenUser: boolean;
  };
  /** Names of TRIVY_*, AZURE_*, IDENTITY_*, MSI_*, AWS_*, ACR_STEWARD_* ... variables it could see. */
  readonly sensitiveEnv: string[];
  readonly home: string | null;
  readonly dockerConfig: string | null;
  readonly tmpdir: string | null;
}

export async function readFakeTrivyCalls(recordFile: string): Promise<FakeTrivyCall[]> {
  let text: string;
  try {
    text = await readFile(recordFile, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as FakeTrivyCall);
}

export function fixturePath(name: string): string {
  return path.join(TRIVY_FIXTURES_DIR, name.endsWith(".json.golden") ? name : `${name}.json.golden`);
}

export async function readFixture(name: string): Promise<string> {
  return readFile(fixturePath(name), "utf8");
}
