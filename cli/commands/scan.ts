import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { type Command, Option } from "commander";
import { z } from "zod";
import { parseDuration } from "../../shared/config/config.js";
import { ConfigurationError, ValidationError } from "../../shared/errors/index.js";
import { parseImageReference, readCaCertificate } from "../../shared/registry/index.js";
import { AcrRefreshTokenMinter } from "../../shared/scanning/credentials/index.js";
import { platformChildren } from "../../shared/scanning/platforms.js";
import type { ScanCredentialsProvider } from "../../shared/scanning/ports.js";
import { type PlatformChild, scanImage } from "../../shared/scanning/scanImage.js";
import type { RegistryCredentials } from "../../shared/scanning/scanRunner.js";
import { openScanStorage } from "../../shared/scanning/store/clients.js";
import { type ScanRecord, scanRecordOf } from "../../shared/scanning/store/scanRecord.js";
import { TrivyRunner } from "../../shared/scanning/trivyRunner.js";
import { ExitCode } from "../exitCodes.js";
import {
  addRegistryOptions,
  addStoreOption,
  type CliDependencies,
  chooseRegistry,
  defaultDependencies,
  parseFlags,
  RegistryFlagsSchema,
} from "../globalOptions.js";
import { renderFields, renderTable, writeJson } from "../output.js";

const ScanFlagsSchema = z.intersection(
  RegistryFlagsSchema,
  z.object({
    trivy: z.string().min(1).default("trivy"),
    cacheDir: z.string().min(1).optional(),
    timeout: z
      .string()
      .default("15m")
      .transform((text, ctx) => {
        const ms = parseDuration(text);
        if (ms === undefined || ms <= 0) {
          ctx.addIssue({ code: "custom", message: `'${text}' is not a duration like 90s, 15m or 1h` });
          return z.NEVER;
        }
        return ms;
      }),
    dbRepository: z.string().min(1).default("mirror.gcr.io/aquasec/trivy-db:2"),
    refreshDb: z.boolean().default(false),
    store: z.string().min(1).optional(),
  }),
);

/**
 * `acr-steward scan REF`: scans one image now, on this machine, with the same use-case as the
 * worker (credentials per scan, per-platform scans of an index, the same summary), stores the result
 * when a store is given, and prints the summary. Exit 0 scanned, 1 the image is gone, 2 failed.
 */
export function registerScanCommand(program: Command, deps: CliDependencies = defaultDependencies()): void {
  addStoreOption(
    addRegistryOptions(
      program
        .command("scan")
        .description("Scan one image with Trivy now, store the result (--store) and print the summary")
        .argument(
          "<reference>",
          "repository:tag or repository@sha256:... (optionally prefixed by the registry)",
        ),
    ),
  )
    .addOption(new Option("--trivy <path>", "the trivy executable").default("trivy"))
    .addOption(
      new Option(
        "--cache-dir <dir>",
        "Trivy's cache dir holding the vulnerability DB (default ~/.cache/trivy)",
      ),
    )
    .addOption(new Option("--timeout <duration>", "Trivy's timeout per platform").default("15m"))
    .addOption(
      new Option("--db-repository <ref>", "where the vulnerability DB is downloaded from").env(
        "ACR_STEWARD_TRIVY_DB_REPOSITORY",
      ),
    )
    .addOption(
      new Option("--refresh-db", "download the vulnerability DB first, even if the cached one is current"),
    )
    .action(async (text: string, options: unknown) => {
      const flags = parseFlags(ScanFlagsSchema, options);
      const reference = parseImageReference(text);
      const registry = await deps.openRegistry(flags, reference.registry);
      const details = await registry.inspect(reference);
      const target = {
        registry: registry.loginServer,
        repository: reference.repository,
        digest: details.digest,
      };
      const children: PlatformChild[] | undefined =
        details.children.length > 0 ? platformChildren(details.children) : undefined;

      const cacheDir = path.resolve(flags.cacheDir ?? path.join(homedir(), ".cache", "trivy"));
      const trivy = new TrivyRunner({ trivyPath: flags.trivy, cacheDir });
      if (flags.refreshDb || !(await databaseIsCurrent(cacheDir))) {
        if (!flags.json)
          deps.io.stderr.write(`downloading the vulnerability DB from ${flags.dbRepository}...\n`);
        const refreshed = await trivy.refreshDatabase({ dbRepository: flags.dbRepository });
        if (refreshed.kind === "failed") {
          throw new ConfigurationError(`the vulnerability DB could not be downloaded: ${refreshed.reason}`);
        }
      }

      if (!flags.json) {
        const what = children === undefined ? "" : ` (${children.map((child) => child.platform).join(", ")})`;
        deps.io.stderr.write(`scanning ${target.registry}/${target.repository}@${target.digest}${what}...\n`);
      }
      const result = await scanImage(
        {
          runner: trivy,
          credentials: scanCredentials(flags, deps.env, target.registry),
          now: () => new Date(),
        },
        { target, ...(children === undefined ? {} : { children }) },
        { timeoutMs: flags.timeout },
      );

      const scanId = randomUUID();
      const storeConnection = flags.store;
      let blobs: string[] = [];
      let stored = false;
      if (storeConnection !== undefined) {
        const { store, archive } = openScanStorage({
          kind: "connectionString",
          connectionString: storeConnection,
        });
        await Promise.all([store.ensureTable(), archive.ensureContainer()]);
        if (result.status === "completed") {
          blobs = [];
          for (const report of result.reports) {
            blobs.push(
              await archive.putReportAs(
                {
                  ...target,
                  digest: report.digest,
                  ...(report.platform === undefined ? {} : { platform: report.platform }),
                  scannedAt: result.scannedAt,
                  reportJson: report.reportJson,
                },
                scanId,
              ),
            );
          }
        }
        await store.record(scanRecordOf(result, scanId, blobs));
        stored = true;
      }
      const record = scanRecordOf(result, scanId, blobs);

      if (flags.json) writeJson(deps.io, { stored, scan: record });
      else {
        deps.io.stdout.write(renderScan(record));
        if (!stored)
          deps.io.stderr.write("note: not stored (pass --store or set ACR_STEWARD_STORAGE to keep it)\n");
      }
      deps.io.setExitCode(
        result.status === "completed"
          ? ExitCode.ok
          : result.status === "skipped"
            ? ExitCode.negative
            : ExitCode.error,
      );
    });
}

/** Credentials for Trivy: the flags' user and password, none, or a refresh token minted with our identity. */
function scanCredentials(
  flags: z.infer<typeof ScanFlagsSchema>,
  env: NodeJS.ProcessEnv,
  loginServer: string,
): ScanCredentialsProvider {
  if (flags.anonymous) return { credentialsFor: async () => null };
  if (flags.username !== undefined || flags.password !== undefined) {
    if (flags.username === undefined || flags.password === undefined) {
      throw new ValidationError(
        "--username and --password go together (or ACR_STEWARD_USERNAME/ACR_STEWARD_PASSWORD)",
      );
    }
    const basic: RegistryCredentials = { username: flags.username, password: flags.password };
    return { credentialsFor: async () => basic };
  }
  const clientId = env.AZURE_CLIENT_ID?.trim();
  const audience = env.ACR_STEWARD_ACR_AUDIENCE?.trim();
  return new AcrRefreshTokenMinter({
    credential: new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
    allowList: [chooseRegistry(flags, env, loginServer)],
    ...(audience ? { audience } : {}),
    ...(flags.caCert === undefined ? {} : { caCertPem: readCaCertificate(flags.caCert) }),
  });
}

/** True when the cache holds a DB that Trivy itself would not update yet (its NextUpdate is ahead). */
async function databaseIsCurrent(cacheDir: string): Promise<boolean> {
  try {
    const metadata = JSON.parse(await readFile(path.join(cacheDir, "db", "metadata.json"), "utf8")) as {
      NextUpdate?: unknown;
    };
    return typeof metadata.NextUpdate === "string" && Date.parse(metadata.NextUpdate) > Date.now();
  } catch {
    return false;
  }
}

const SEVERITY_COLUMNS = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"] as const;

export function renderScan(record: ScanRecord): string {
  const counts = (c: ScanRecord["findings"]) => SEVERITY_COLUMNS.map((s) => `${s[0]}${c[s]}`).join(" ");
  const fields: [string, string][] = [
    ["image", `${record.registry}/${record.repository}@${record.digest}`],
    ["status", record.status],
  ];
  if (record.reason !== undefined) fields.push(["reason", record.reason.split("\n")[0] ?? ""]);
  if (record.status === "completed") {
    fields.push(
      ["findings", `${record.findingsTotal} (${counts(record.findings)})`],
      ["unique", `${record.uniqueTotal} (${counts(record.unique)})`],
      ["fixable", `${record.fixable} of ${record.findingsTotal}`],
      ["os", record.os === null ? "-" : `${record.os.family} ${record.os.name ?? ""}`.trim()],
      ["end of life", record.endOfLife ? "yes" : "no"],
      ["trivy", record.scanner.trivyVersion ?? "?"],
      ["db updated", record.scanner.dbUpdatedAt ?? "?"],
    );
    if (record.platforms.length > 0)
      fields.push(["platforms", record.platforms.map((p) => p.platform).join(", ")]);
  }
  fields.push(["scanned at", record.scannedAt], ["scan id", record.scanId]);
  let out = renderFields(fields);
  if (record.worst.length > 0) {
    out += `\n${renderTable(
      [
        { header: "SEVERITY", value: (w) => w.severity },
        { header: "ID", value: (w) => w.vulnerabilityId },
        { header: "PACKAGE", value: (w) => w.pkgName ?? "" },
        { header: "INSTALLED", value: (w) => w.installedVersion ?? "" },
        { header: "FIXED", value: (w) => w.fixedVersion ?? "" },
        {
          header: "CVSS",
          value: (w) => (w.cvssScore === undefined ? "" : w.cvssScore.toFixed(1)),
          align: "right",
        },
      ],
      record.worst,
    )}`;
  }
  return out;
}
