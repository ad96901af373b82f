import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { z } from "zod";
import { ConfigurationError } from "../errors/index.js";
import { LoginServerSchema } from "../oci/reference.js";
import { STORAGE_CONNECTION } from "./settings.js";

/**
 * The validated configuration, read once at start-up from the environment (app settings in Azure,
 * local.settings.json or the shell locally). Every setting named in settings.ts appears here; an
 * empty value counts as unset, as Azure app settings and local.settings.sample.json use "".
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_PATTERN = /^(?:\d+(?:ms|s|m|h|d))+$/;

/** Parses `7d`, `10m`, `1h30m`, `500ms` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION_PATTERN.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  return total;
}

const DurationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({
      code: "custom",
      message: `'${text}' is not a positive duration like 30s, 10m, 12h, 7d or 1h30m`,
    });
    return z.NEVER;
  }
  return ms;
});

const RegistryAllowListSchema = z
  .string()
  .transform((text) =>
    text
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0),
  )
  .pipe(z.array(LoginServerSchema).min(1, "name at least one registry login server"))
  .transform((servers) => [...new Set(servers)]);

const PositiveIntegerSchema = z
  .string()
  .regex(/^\d+$/, "must be a whole number")
  .transform(Number)
  .pipe(z.number().int().positive("must be at least 1"));

const HttpsUrlSchema = z.url({ protocol: /^https?$/, message: "must be an http(s) URL" });

/** Six-field NCRONTAB (`{second} {minute} {hour} {day} {month} {day-of-week}`), as Functions timers expect. */
const NcrontabSchema = z
  .string()
  .refine((text) => text.trim().split(/\s+/).length === 6, "must be a six-field NCRONTAB expression");

export const StorageConnectionSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("connectionString"), connectionString: z.string().min(1) }),
  z.object({
    kind: z.literal("identity"),
    queueServiceUri: HttpsUrlSchema,
    tableServiceUri: HttpsUrlSchema,
    blobServiceUri: HttpsUrlSchema.optional(),
    /** `managedidentity` selects ManagedIdentityCredential; otherwise DefaultAzureCredential. */
    credential: z.enum(["managedidentity"]).optional(),
    clientId: z.string().min(1).optional(),
  }),
]);

export type StorageConnection = z.infer<typeof StorageConnectionSchema>;

const EnvironmentSchema = z.object({
  ACR_STEWARD_REGISTRIES: RegistryAllowListSchema,
  AZURE_CLIENT_ID: z.string().optional(),
  ACR_STEWARD_ACR_AUDIENCE: HttpsUrlSchema.default("https://containerregistry.azure.net"),
  ACR_STEWARD_UNKNOWN_EVENTS: z
    .enum(["skip", "reject"], { message: "must be 'skip' or 'reject'" })
    .default("skip"),
  ACR_STEWARD_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  ACR_STEWARD_SCAN_FRESHNESS: DurationSchema.default(7 * UNIT_MS.d),
  ACR_STEWARD_RETENTION_DEBOUNCE: DurationSchema.default(10 * UNIT_MS.m),
  ACR_STEWARD_RETENTION_POLICY: z.string().optional(),
  ACR_STEWARD_RETENTION_ENFORCE: z
    .string()
    .transform((text) => text.trim().toLowerCase() === "true")
    .default(false),
  ACR_STEWARD_DELETE_CAP_PER_REPOSITORY: PositiveIntegerSchema.default(100),
  ACR_STEWARD_DELETE_CAP_GLOBAL: PositiveIntegerSchema.default(1000),
  ACR_STEWARD_SWEEP_SCHEDULE: NcrontabSchema.default("0 0 3 * * *"),
  ACR_STEWARD_SCAN_EVENTS_ENDPOINT: HttpsUrlSchema.optional(),
  ACR_STEWARD_TRIVY_DB_REPOSITORY: z.string().min(1).default("mirror.gcr.io/aquasec/trivy-db:2"),
  ACR_STEWARD_TRIVY_TIMEOUT: DurationSchema.default(15 * UNIT_MS.m),
  APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().optional(),
});

export interface StewardConfig {
  /** Allow-listed registry login servers, lower case, without duplicates. */
  readonly registries: readonly string[];
  readonly storage: StorageConnection;
  readonly azureClientId: string | undefined;
  readonly acrAudience: string;
  readonly unknownEvents: "skip" | "reject";
  /** Shared secret of ACR native webhooks; webhooks are refused while undefined. Never log it. */
  readonly webhookSecret: string | undefined;
  readonly scanFreshnessMs: number;
  readonly retentionDebounceMs: number;
  readonly retentionPolicy: string | undefined;
  /** The kill switch: false forces dry run everywhere. */
  readonly retentionEnforce: boolean;
  readonly deleteCapPerRepository: number;
  readonly deleteCapGlobal: number;
  readonly sweepSchedule: string;
  readonly scanEventsEndpoint: string | undefined;
  readonly trivyDbRepository: string;
  readonly trivyTimeoutMs: number;
  readonly applicationInsightsConnectionString: string | undefined;
}

const SECRET_SETTINGS = new Set(["ACR_STEWARD_WEBHOOK_SECRET", STORAGE_CONNECTION]);

/**
 * Validates the environment once and returns a frozen configuration.
 * @throws ConfigurationError naming every missing or bad setting (values of secrets are never shown).
 * @example
 * const config = loadConfig(process.env);
 * config.registries; // ["myregistry.azurecr.io"]
 */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): StewardConfig {
  const problems: string[] = [];
  const values = withoutEmptyValues(environment);

  const parsed = EnvironmentSchema.safeParse(values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "environment");
      const shown =
        values[name] === undefined
          ? "is missing"
          : describeBadValue(name, values[name] as string, issue.message);
      problems.push(`${name} ${shown}`);
    }
  }
  const storage = readStorageConnection(values, problems);

  if (problems.length > 0 || !parsed.success || storage === undefined) {
    throw new ConfigurationError(`invalid configuration:\n  - ${problems.join("\n  - ")}`, {
      context: { settings: problems.map((problem) => problem.split(" ")[0]) },
    });
  }
  const env = parsed.data;
  return Object.freeze({
    registries: Object.freeze([...env.ACR_STEWARD_REGISTRIES]),
    storage: Object.freeze(storage),
    azureClientId: env.AZURE_CLIENT_ID,
    acrAudience: env.ACR_STEWARD_ACR_AUDIENCE,
    unknownEvents: env.ACR_STEWARD_UNKNOWN_EVENTS,
    webhookSecret: env.ACR_STEWARD_WEBHOOK_SECRET,
    scanFreshnessMs: env.ACR_STEWARD_SCAN_FRESHNESS,
    retentionDebounceMs: env.ACR_STEWARD_RETENTION_DEBOUNCE,
    retentionPolicy: env.ACR_STEWARD_RETENTION_POLICY,
    retentionEnforce: env.ACR_STEWARD_RETENTION_ENFORCE,
    deleteCapPerRepository: env.ACR_STEWARD_DELETE_CAP_PER_REPOSITORY,
    deleteCapGlobal: env.ACR_STEWARD_DELETE_CAP_GLOBAL,
    sweepSchedule: env.ACR_STEWARD_SWEEP_SCHEDULE,
    scanEventsEndpoint: env.ACR_STEWARD_SCAN_EVENTS_ENDPOINT,
    trivyDbRepository: env.ACR_STEWARD_TRIVY_DB_REPOSITORY,
    trivyTimeoutMs: env.ACR_STEWARD_TRIVY_TIMEOUT,
    applicationInsightsConnectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING,
  });
}

function withoutEmptyValues(environment: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(environment)) {
    if (value !== undefined && value.trim() !== "") values[name] = value;
  }
  return values;
}

function describeBadValue(name: string, value: string, message: string): string {
  return SECRET_SETTINGS.has(name) ? `is invalid: ${message}` : `is invalid ('${value}'): ${message}`;
}

/**
 * Identity-based settings (`ACR_STEWARD_STORAGE__queueServiceUri` ...) win over a connection string,
 * as in the Functions host: in Azure the storage account refuses shared keys.
 */
function readStorageConnection(
  values: Record<string, string | undefined>,
  problems: string[],
): StorageConnection | undefined {
  const prefix = `${STORAGE_CONNECTION}__`;
  const identityNames = Object.keys(values).filter((name) => name.startsWith(prefix));
  if (identityNames.length > 0) {
    const candidate = {
      kind: "identity",
      queueServiceUri: values[`${prefix}queueServiceUri`],
      tableServiceUri: values[`${prefix}tableServiceUri`],
      blobServiceUri: values[`${prefix}blobServiceUri`],
      credential: values[`${prefix}credential`]?.toLowerCase(),
      // The app-wide user-assigned identity (AZURE_CLIENT_ID) unless the connection names its own.
      clientId: values[`${prefix}clientId`] ?? values.AZURE_CLIENT_ID,
    };
    const parsed = StorageConnectionSchema.safeParse(candidate);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      const name = `${prefix}${String(issue.path[0])}`;
      problems.push(
        values[name] === undefined ? `${name} is missing` : `${name} is invalid: ${issue.message}`,
      );
    }
    return undefined;
  }
  const connectionString = values[STORAGE_CONNECTION];
  if (connectionString === undefined) {
    problems.push(
      `${STORAGE_CONNECTION} is missing: set a storage connection string, or ${prefix}queueServiceUri and ${prefix}tableServiceUri for an identity-based connection`,
    );
    return undefined;
  }
  return { kind: "connectionString", connectionString };
}

/** The credential for identity-based storage: the managed identity in Azure, the developer's login elsewhere. */
export function storageCredential(
  storage: Extract<StorageConnection, { kind: "identity" }>,
): TokenCredential {
  if (storage.credential === "managedidentity") {
    return storage.clientId
      ? new ManagedIdentityCredential({ clientId: storage.clientId })
      : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential(storage.clientId ? { managedIdentityClientId: storage.clientId } : {});
}
