import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerApplyCommand } from "../../../cli/commands/apply.js";
import { type RetentionCommandDependencies, registerPreviewCommand } from "../../../cli/commands/preview.js";
import { startDemoRegistry } from "../../../cli/embedded.js";
import { TABLE_NAMES } from "../../../shared/config/settings.js";
import { GuardError } from "../../../shared/errors/index.js";
import { InMemoryAuditSink, openRegistry, type Registry } from "../../../shared/registry/index.js";
import { runCommands } from "../../helpers/cliRun.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";

/**
 * `acr-steward preview` and `apply` on the emulator's demo seed (real SDK over HTTPS), with audit
 * rows and leases in Azurite. The commands run in-process with captured output.
 */
const POLICY = `
version: 1
rules:
  - id: old-tags
    repositories: { include: ["tools/**"] }
    delete: { taggedOlderThan: 90d }
  - id: untagged
    repositories: { include: ["tools/**"] }
    delete: { untaggedOlderThan: 1d }
`;

let env: TestEmulator;
let registry: Registry;
let storage: string;
let folder: string;
let policyFile: string;

beforeAll(async () => {
  [env, storage] = await Promise.all([
    startTestEmulator({ seed: { kind: "demo" }, randomSeed: 5 }),
    getTestStorage(),
  ]);
  registry = await openRegistry({
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    audit: new InMemoryAuditSink(),
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 50 },
  });
  folder = mkdtempSync(join(tmpdir(), "acr-steward-retention-cli-"));
  policyFile = join(folder, "policy.yaml");
  writeFileSync(policyFile, POLICY);
}, 30_000);
afterAll(async () => {
  await env?.close();
  await stopTestStorage();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

async function run(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    answer?: string;
    demo?: RetentionCommandDependencies["openDemoRegistry"];
  } = {},
) {
  return runCommands(
    args,
    (program, io) => {
      const deps: RetentionCommandDependencies = {
        io,
        env: options.env ?? {},
        openRegistry: async () => registry,
        now: () => new Date(),
        embeddedStorage: { cwd: folder },
        ...(options.demo === undefined ? {} : { openDemoRegistry: options.demo }),
      };
      registerPreviewCommand(program, deps);
      registerApplyCommand(program, deps);
    },
    options,
  );
}

async function toolsTags(): Promise<string[]> {
  const tags: string[] = [];
  for await (const tag of registry.listTags("tools/base")) tags.push(tag.name);
  return tags.sort();
}

describe("acr-steward preview", () => {
  it("prints one aligned table per repository with actions, rules, reasons and totals", async () => {
    const result = await run(["preview", "--policy", policyFile]);
    expect(result.error).toBeUndefined();
    const lines = result.stdout.split("\n");
    const heading = lines.find((line) => line.includes("/tools/base"));
    expect(heading).toMatch(/3 manifests: delete 2, untag 1, keep 0 \(0 guarded\); reclaimable \d/);
    const header = lines.find((line) => line.startsWith("DIGEST"));
    expect(header).toMatch(/^DIGEST\s+TAGS\s+ACTION\s+SIZE\s+RULE\s+REASON$/);
    const row = lines.find((line) => line.includes(" 3.18 "));
    expect(row).toMatch(/delete\s+.*old-tags\s+deleted by rule "old-tags"/);
    expect(lines.find((line) => line.includes(" 3.19 "))).toMatch(/untag/);
    expect(result.stdout).toMatch(/Total: 3 manifests in 1 repository: delete 2, untag 1/);
    expect(result.stdout).toContain("No rule applies to team/api, team/web: not planned.");
    expect(result.stdout).toContain("Preview only: nothing was changed.");
    expect(await toolsTags()).toEqual(["3.18", "3.19", "latest"]);
  });

  it("without --registry or an allow-list, previews the built-in demo registry", async () => {
    let closed = false;
    const demo = async () => {
      const started = await startDemoRegistry();
      return {
        registry: started.registry,
        close: async () => {
          await started.close();
          closed = true;
        },
      };
    };
    const result = await run(["preview", "--policy", policyFile, "--repo", "tools/base"], { demo });
    expect(result.error).toBeUndefined();
    expect(result.stderr).toMatch(/no --registry given: previewing the built-in demo registry/);
    expect(result.stdout).not.toContain(env.loginServer);
    expect(result.stdout).toMatch(/Total: 3 manifests in 1 repository: delete 2, untag 1/);
    expect(closed).toBe(true);
    // With an allow-list, the configured registry is used as by every other command.
    const configured = await run(["preview", "--policy", policyFile, "--repo", "tools/base"], {
      demo,
      env: { ACR_STEWARD_REGISTRIES: env.loginServer },
    });
    expect(configured.stdout).toContain(env.loginServer);
  });

  it("--json prints the plan and nothing else", async () => {
    const result = await run(["preview", "--policy", policyFile, "--repo", "tools/base", "--json"]);
    const document = JSON.parse(result.stdout) as {
      plan: { totals: { delete: number; bytesReclaimable: number } };
    };
    expect(document.plan.totals.delete).toBe(2);
    expect(document.plan.totals.bytesReclaimable).toBeGreaterThan(0);
  });

  it("--only shows just those kinds of decision, says how many, and keeps the totals", async () => {
    const actions = await run([
      "preview",
      "--policy",
      policyFile,
      "--repo",
      "tools/base",
      "--only",
      "actions",
    ]);
    expect(actions.error).toBeUndefined();
    expect(actions.stdout).toContain("showing 3 of 3 decisions (--only actions)");
    expect(actions.stdout).toContain(
      "'acr-steward apply' with the same flags (without --only) carries it out",
    );
    const kept = await run([
      "preview",
      "--policy",
      policyFile,
      "--repo",
      "tools/base",
      "--only",
      "kept,guarded",
    ]);
    expect(kept.stdout).toContain("showing 0 of 3 decisions (--only kept,guarded)");
    expect(kept.stdout).not.toMatch(/^DIGEST/m);
    expect(kept.stdout).toMatch(/Total: 3 manifests in 1 repository: delete 2, untag 1/);
    const json = await run([
      "preview",
      "--policy",
      policyFile,
      "--repo",
      "tools/base",
      "--only",
      "guarded",
      "--json",
    ]);
    const document = JSON.parse(json.stdout) as {
      only: string[];
      plan: { totals: { delete: number }; repositories: { decisions: unknown[] }[] };
    };
    expect(document.only).toEqual(["guarded"]);
    expect(document.plan.totals.delete).toBe(2);
    expect(document.plan.repositories[0]?.decisions).toEqual([]);
    const bad = await run(["preview", "--policy", policyFile, "--only", "deletes"]);
    expect(String(bad.error)).toMatch(/--only: each entry must be one of actions, guarded, kept/);
  });

  it("names the policy file and the bad field when the policy is invalid", async () => {
    const bad = join(folder, "bad.yaml");
    writeFileSync(
      bad,
      "version: 1\nrules:\n  - id: x\n    repositories: { include: ['**'] }\n    delete: { untaggedOlderThan: 200y }\n",
    );
    const result = await run(["preview", "--policy", bad]);
    expect(String(result.error)).toContain(bad);
    expect(String(result.error)).toMatch(/untaggedOlderThan/);
  });
});

describe("acr-steward apply", () => {
  it("refuses while the kill switch is off, whatever --yes says", async () => {
    for (const value of [undefined, "false", "no"]) {
      const result = await run(["apply", "--policy", policyFile, "--yes", "--store", storage], {
        env: value === undefined ? {} : { ACR_STEWARD_RETENTION_ENFORCE: value },
      });
      expect(result.error).toBeInstanceOf(GuardError);
      expect(String(result.error)).toMatch(/ACR_STEWARD_RETENTION_ENFORCE/);
    }
    expect(await toolsTags()).toEqual(["3.18", "3.19", "latest"]);
  });

  it("refuses without --yes when nobody can be asked, and does nothing when the answer is no", async () => {
    const on = { ACR_STEWARD_RETENTION_ENFORCE: "true" };
    const refused = await run(["apply", "--policy", policyFile, "--store", storage], { env: on });
    expect(refused.error).toBeInstanceOf(GuardError);
    expect(String(refused.error)).toMatch(/--yes/);
    const declined = await run(["apply", "--policy", policyFile, "--store", storage], {
      env: on,
      answer: "n",
    });
    expect(declined.error).toBeUndefined();
    expect(declined.stderr).toMatch(/Delete 2 manifests and remove 2 tags \(1 untag action\)/);
    expect(declined.stdout).toContain("Nothing was changed.");
    expect(await toolsTags()).toEqual(["3.18", "3.19", "latest"]);
  });

  it("with --yes applies within the caps, prints what was done and writes audit rows", async () => {
    const on = { ACR_STEWARD_RETENTION_ENFORCE: "true" };
    const capped = await run(
      ["apply", "--policy", policyFile, "--yes", "--store", storage, "--max-deletes-per-repo", "1", "--json"],
      { env: on },
    );
    expect(capped.error).toBeUndefined();
    const first = JSON.parse(capped.stdout) as {
      report: { runId: string; totals: Record<string, number> };
    };
    expect(first.report.totals).toMatchObject({ deleted: 1, untagged: 0, failed: 0 });
    expect(await toolsTags()).toEqual(["3.19", "latest"]);

    const result = await run(["apply", "--policy", policyFile, "--yes", "--store", storage], { env: on });
    expect(result.error).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Applied \(enforce\)/);
    expect(result.stdout).toMatch(/untag\s+untagged\s+old-tags/);
    expect(result.stdout).toMatch(/delete\s+deleted\s+untagged/);
    expect(result.stdout).toMatch(/Done: deleted 1, untagged 1\./);
    expect(await toolsTags()).toEqual(["latest"]);

    const audit = TableClient.fromConnectionString(storage, TABLE_NAMES.audit, {
      allowInsecureConnection: true,
    });
    const rows: Record<string, unknown>[] = [];
    for await (const row of audit.listEntities({
      queryOptions: { filter: `runId eq '${first.report.runId}'` },
    }))
      rows.push(row);
    // The cap held the other two actions back in the plan: they were never attempted.
    expect(rows.map((row) => row.outcome)).toEqual(["deleted"]);
    expect(String(rows[0]?.actor)).toMatch(/^cli:/);

    const again = await run(["apply", "--policy", policyFile, "--yes", "--store", storage], { env: on });
    expect(again.stdout).toMatch(/Done: nothing to do\./);
  });
});
