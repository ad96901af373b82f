import { userInfo } from "node:os";
import { type Command, Option } from "commander";
import { z } from "zod";
import { ConfigurationError, ValidationError } from "../shared/errors/index.js";
import { JsonLinesAuditSink } from "../shared/registry/audit.js";
import {
  openRegistry,
  parseAllowList,
  parseRegistryEndpoint,
  type Registry,
  type RegistryCredentials,
  readCaCertificate,
} from "../shared/registry/index.js";
import { type CliIo, processIo } from "./output.js";

/**
 * The options every registry command shares, added per command so that `acr-steward <cmd> --help`
 * lists them: `--registry`, `--username/--password` (or ACR_STEWARD_USERNAME/ACR_STEWARD_PASSWORD),
 * `--anonymous`, `--ca-cert FILE`, `--json`; `--store` for commands that also use storage.
 * Without credentials flags, DefaultAzureCredential is used (AZURE_CLIENT_ID picks a user-assigned
 * managed identity; AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET a service principal).
 */
export const RegistryFlagsSchema = z.object({
  registry: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  anonymous: z.boolean().default(false),
  caCert: z.string().min(1).optional(),
  json: z.boolean().default(false),
});

export type RegistryFlags = z.infer<typeof RegistryFlagsSchema>;

export function addRegistryOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--registry <login-server>",
        "registry login server (e.g. myregistry.azurecr.io); default: the only entry of ACR_STEWARD_REGISTRIES",
      ),
    )
    .addOption(
      new Option("--username <name>", "ACR admin user or repository-scoped token name").env(
        "ACR_STEWARD_USERNAME",
      ),
    )
    .addOption(new Option("--password <secret>", "password for --username").env("ACR_STEWARD_PASSWORD"))
    .addOption(new Option("--anonymous", "no credentials (registries with anonymous pull)"))
    .addOption(
      new Option("--ca-cert <file>", "trust this PEM CA certificate too (private CAs, the local emulator)"),
    )
    .addOption(new Option("--json", "machine-readable JSON on stdout, nothing else"));
}

/** `--store CONNECTION_STRING` for commands that read or write the inventory. */
export function addStoreOption(command: Command): Command {
  return command.addOption(
    new Option("--store <connection-string>", "storage connection string (inventory, queues)").env(
      "ACR_STEWARD_STORAGE",
    ),
  );
}

/** Parses commander's option bag with zod; errors name the flag. */
export function parseFlags<Schema extends z.ZodType>(schema: Schema, values: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const flag =
        issue.path.length > 0
          ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: `
          : "";
      return `${flag}${issue.message}`;
    });
    throw new ValidationError(issues.join("; "));
  }
  return parsed.data;
}

/** What commands need from the outside world; tests pass fakes. */
export interface CliDependencies {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  /** Opens the registry named by the flags (or a reference's own host). */
  openRegistry(flags: RegistryFlags, host?: string): Promise<Registry>;
}

export function defaultDependencies(): CliDependencies {
  const io = processIo();
  const env = process.env;
  return { io, env, openRegistry: (flags, host) => openRegistryFromFlags(flags, env, host) };
}

/** The login server a command works on: the reference's host, else --registry, else the allow-list's only entry. */
export function chooseRegistry(flags: RegistryFlags, env: NodeJS.ProcessEnv, host?: string): string {
  if (host !== undefined) return host;
  if (flags.registry !== undefined) return flags.registry;
  const allowed = parseAllowList(env.ACR_STEWARD_REGISTRIES);
  if (allowed.length === 1 && allowed[0] !== undefined) return allowed[0];
  throw new ConfigurationError(
    allowed.length === 0
      ? "no registry given: pass --registry <login-server> (or set ACR_STEWARD_REGISTRIES)"
      : `several registries are configured (${allowed.join(", ")}): pass --registry to pick one`,
  );
}

export async function openRegistryFromFlags(
  flags: RegistryFlags,
  env: NodeJS.ProcessEnv,
  host?: string,
): Promise<Registry> {
  const target = chooseRegistry(flags, env, host);
  // The registry the user names on the command line is allowed; anything else must be configured.
  const allowList = [...parseAllowList(env.ACR_STEWARD_REGISTRIES)];
  if (flags.registry !== undefined) allowList.push(parseRegistryEndpoint(flags.registry).loginServer);
  const credentials = credentialsFromFlags(flags, env);
  const audience = env.ACR_STEWARD_ACR_AUDIENCE?.trim();
  return openRegistry({
    registry: target,
    credentials,
    allowList,
    ...(flags.caCert === undefined ? {} : { caCertPem: readCaCertificate(flags.caCert) }),
    ...(audience ? { audience } : {}),
    audit: new JsonLinesAuditSink((line) => process.stderr.write(line)),
    actor: cliActor(),
  });
}

export function credentialsFromFlags(flags: RegistryFlags, env: NodeJS.ProcessEnv): RegistryCredentials {
  // --anonymous wins over ACR_STEWARD_USERNAME/PASSWORD left in the environment.
  if (flags.anonymous) return { kind: "anonymous" };
  if (flags.username !== undefined || flags.password !== undefined) {
    if (flags.username === undefined || flags.password === undefined) {
      throw new ValidationError(
        "--username and --password go together (or ACR_STEWARD_USERNAME/ACR_STEWARD_PASSWORD)",
      );
    }
    return { kind: "basic", username: flags.username, password: flags.password };
  }
  const clientId = env.AZURE_CLIENT_ID?.trim();
  return clientId ? { kind: "default", managedIdentityClientId: clientId } : { kind: "default" };
}

/** Who acts, in audit records written by the CLI: the OS user (credentials are named by the registry's logs). */
export function cliActor(): string {
  try {
    return `${userInfo().username} via acr-steward CLI`;
  } catch {
    return "unknown user via acr-steward CLI";
  }
}
