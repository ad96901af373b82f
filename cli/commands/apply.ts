import type { Command } from "commander";
import { z } from "zod";
import { TABLE_NAMES } from "../../shared/config/settings.js";
import { GuardError } from "../../shared/errors/index.js";
import { createTableClient } from "../../shared/inventory/tableClients.js";
import {
  RegistryRetentionActions,
  readOnlyRegistry,
  TableRepositoryLeases,
  TableRetentionAuditLog,
} from "../../shared/retention/adapters/index.js";
import { enforceRetention, type RetentionPreview } from "../../shared/retention/enforce.js";
import type { ExecutionItem, ExecutionReport } from "../../shared/retention/executor.js";
import { systemClock } from "../../shared/retention/ports.js";
import { withStore } from "../embeddedStorage.js";
import { ExitCode } from "../exitCodes.js";
import { addStoreOption, cliActor, parseFlags } from "../globalOptions.js";
import { type CliIo, createProgress, formatBytes, renderTable, shortDigest, writeJson } from "../output.js";
import { confirm } from "../prompt.js";
import {
  addRetentionOptions,
  capsFrom,
  defaultRetentionDependencies,
  type RetentionCommandDependencies,
  RetentionFlagsSchema,
  readPolicyFile,
  writePlan,
} from "./preview.js";

const ApplyFlagsSchema = z.intersection(
  RetentionFlagsSchema,
  z.object({ yes: z.boolean().default(false), store: z.string().min(1).optional() }),
);

/** The kill switch, read exactly as the functions read it: only 'true' lets retention delete. */
export const ENFORCE_SETTING = "ACR_STEWARD_RETENTION_ENFORCE";

export function enforcementAllowed(env: NodeJS.ProcessEnv): boolean {
  return env[ENFORCE_SETTING]?.trim().toLowerCase() === "true";
}

/**
 * `acr-steward apply --policy FILE [--repo R] --yes`: plans, confirms, executes, prints what was done.
 * Audit rows and repository leases go to `--store` (or the embedded store). The global kill switch wins
 * over the person at the keyboard: unless ACR_STEWARD_RETENTION_ENFORCE=true, apply refuses to start.
 */
export function registerApplyCommand(
  program: Command,
  deps: RetentionCommandDependencies = defaultRetentionDependencies(),
): void {
  addStoreOption(
    addRetentionOptions(
      program
        .command("apply")
        .description(
          "Carry out a retention policy: delete and untag what preview shows, within the caps; asks first unless --yes",
        )
        .option("--yes", "do not ask for confirmation (required without a terminal)"),
    ),
  ).action(async (options: unknown) => {
    const flags = parseFlags(ApplyFlagsSchema, options);
    if (!enforcementAllowed(deps.env)) {
      throw new GuardError(
        `retention enforcement is switched off (${ENFORCE_SETTING} is ${deps.env[ENFORCE_SETTING]?.trim() ? `'${deps.env[ENFORCE_SETTING]?.trim()}'` : "not set"}): nothing was planned or deleted. Set ${ENFORCE_SETTING}=true to allow apply, or run 'acr-steward preview' to see what it would do.`,
      );
    }
    if (!flags.yes && deps.io.stdin.isTTY !== true) {
      throw new GuardError(
        "refusing to apply a retention policy without confirmation: no terminal to ask on. Run 'acr-steward preview' first, then re-run with --yes if you mean it.",
      );
    }
    const policy = readPolicyFile(flags.policy);
    const caps = capsFrom(flags, deps.env);
    const registry = await deps.openRegistry(flags);
    const progress = createProgress(deps.io, "planning", { quiet: flags.json });

    await withStore(
      flags.store,
      async (store) => {
        const audit = new TableRetentionAuditLog(
          createTableClient(
            { kind: "connectionString", connectionString: store.connectionString },
            TABLE_NAMES.audit,
          ),
        );
        const leases = new TableRepositoryLeases(
          createTableClient(
            { kind: "connectionString", connectionString: store.connectionString },
            TABLE_NAMES.coordination,
          ),
        );
        await Promise.all([audit.ensureTable(), leases.ensureTable()]);
        const result = await enforceRetention(
          {
            ...(flags.repo === undefined ? {} : { repositories: flags.repo }),
            enforce: true,
            actor: `cli:${cliActor()}`,
          },
          {
            registry: readOnlyRegistry(registry),
            policy,
            caps,
            globalEnforce: enforcementAllowed(deps.env),
            ports: { registry: new RegistryRetentionActions(registry), audit, leases, clock: systemClock },
            onRepository: (repository, index, count) =>
              progress.update(`${repository} (${index + 1}/${count})`),
            load: {
              onProgress: ({ listed, read }) => progress.update(`listed ${listed}, read ${read} manifests`),
            },
            confirm: async (preview) => {
              progress.done();
              if (!flags.json) writePlan(deps.io, preview);
              if (preview.plan.totals.delete + preview.plan.totals.untag === 0) return true;
              return confirm(deps.io, question(preview), {
                yes: flags.yes,
                action: "apply the retention policy",
              });
            },
          },
          deps.now(),
        );
        if (result.status === "declined") {
          if (flags.json)
            writeJson(deps.io, { registry: registry.loginServer, declined: true, plan: result.plan });
          else deps.io.stdout.write("Nothing was changed.\n");
          return;
        }
        if (flags.json) {
          writeJson(deps.io, {
            registry: registry.loginServer,
            store: store.description,
            plan: result.plan,
            report: result.report,
          });
        } else {
          writeReport(deps.io, result, store.description);
        }
        deps.io.setExitCode(
          result.unavailableRepositories.length > 0 ? ExitCode.error : exitCodeOf(result.report),
        );
      },
      { services: ["table"], ...deps.embeddedStorage },
    );
  });
}

function question(preview: RetentionPreview): string {
  const t = preview.plan.totals;
  return `Delete ${t.delete} manifest${t.delete === 1 ? "" : "s"} and remove ${t.tagsRemoved} tag${t.tagsRemoved === 1 ? "" : "s"} (${t.untag} untag action${t.untag === 1 ? "" : "s"}) in ${preview.plan.repositories.length} repositor${preview.plan.repositories.length === 1 ? "y" : "ies"}, reclaiming up to ${formatBytes(t.bytesReclaimable)}? This cannot be undone.`;
}

/** 2 when something failed or the run stopped early; 1 when another worker held a repository; else 0. */
export function exitCodeOf(report: ExecutionReport): number {
  if (report.stoppedEarly || report.totals.failed > 0) return ExitCode.error;
  if (report.repositories.some((repo) => repo.status === "busy")) return ExitCode.negative;
  return ExitCode.ok;
}

/** Why an action was not carried out, in front of the plan's reason. */
const OUTCOME_NOTES: Partial<Record<ExecutionItem["outcome"], string>> = {
  "already-gone": "already gone",
  locked: "skipped: the registry says it is locked",
  "changed-since-plan": "skipped: it changed since the plan (new tag, or the tag moved)",
  "cap-reached": "skipped: the deletion cap of this run was reached",
  "skipped-dependency": "skipped: an earlier action in this repository did not complete",
  aborted: "not attempted: the run stopped early",
};

function writeReport(
  io: CliIo,
  result: RetentionPreview & { readonly report: ExecutionReport },
  storeDescription: string,
): void {
  const reasons = new Map(
    result.plan.repositories.flatMap((repo) =>
      repo.decisions.map((d) => [`${repo.repository}@${d.digest}`, d.reason] as const),
    ),
  );
  const report = result.report;
  io.stdout.write(`\n${report.dryRun ? "DRY RUN" : "Applied"} (${report.mode}); run ${report.runId}\n`);
  for (const repo of report.repositories) {
    io.stdout.write(`${repo.registry}/${repo.repository}  ${repo.status}\n`);
    io.stdout.write(
      renderTable<ExecutionItem>(
        [
          { header: "DIGEST", value: (item) => shortDigest(item.digest) },
          { header: "TAG", value: (item) => item.tag ?? "-" },
          { header: "ACTION", value: (item) => item.action },
          { header: "OUTCOME", value: (item) => item.outcome },
          { header: "RULE", value: (item) => item.ruleId ?? "-" },
          {
            header: "DETAIL",
            value: (item) =>
              [item.error ?? OUTCOME_NOTES[item.outcome], reasons.get(`${repo.repository}@${item.digest}`)]
                .filter((part) => part !== undefined && part !== "")
                .join("; "),
          },
        ],
        repo.items,
      ),
    );
  }
  for (const { repository, error } of result.unavailableRepositories) {
    io.stdout.write(`${repository}: NOT PLANNED, the registry would not list it: ${error}\n`);
  }
  const counted = Object.entries(report.totals)
    .filter(([, count]) => count > 0)
    .map(([outcome, count]) => `${outcome} ${count}`);
  io.stdout.write(
    `\nDone: ${counted.length === 0 ? "nothing to do" : counted.join(", ")}. Audit rows in ${storeDescription} (table ${TABLE_NAMES.audit}, runId ${report.runId}).\n`,
  );
}
