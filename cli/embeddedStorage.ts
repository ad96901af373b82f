import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { ConflictError, UnavailableError } from "../shared/errors/index.js";
import { type CliIo, processIo } from "./output.js";

/**
 * The embedded store: Azurite run inside the CLI's own process, so that `acr-steward replay`,
 * `images`, `sweep` ... work on a laptop without any storage account. Its data lives under
 * `.acr-steward/azurite/` in the current directory and survives between commands (replay, then
 * images, shows what was replayed). It listens on free loopback ports only while a command runs,
 * prints nothing, and is stopped (data saved) when the command ends.
 *
 * One command at a time may use a data folder: a lock file names the process that holds it, and a
 * lock left behind by a process that no longer exists is taken over.
 *
 * @example
 * const count = await withEmbeddedStorage(async ({ connectionString }) => replayInto(connectionString));
 */

export type EmbeddedService = "blob" | "queue" | "table";

export interface EmbeddedStorageOptions {
  /** Data folder; default `.acr-steward/azurite` under `cwd`. */
  readonly location?: string;
  /** Default `process.cwd()`. */
  readonly cwd?: string;
  /** Services to start; default table and queue (the inventory and the work queues). */
  readonly services?: readonly EmbeddedService[];
  /** Keep nothing on disk (demos, tests): no folder, no lock, everything gone on stop. */
  readonly inMemory?: boolean;
}

export interface EmbeddedStorage {
  /** For our table, queue and blob clients; names only the services that were started. */
  readonly connectionString: string;
  /** The data folder (absolute); undefined in memory. */
  readonly location: string | undefined;
  readonly ports: Readonly<Partial<Record<EmbeddedService, number>>>;
  /** Saves the data and closes every port and timer; safe to call twice. */
  stop(): Promise<void>;
}

/** Where the embedded store keeps its data, relative to the working directory. */
export const EMBEDDED_STORAGE_FOLDER = join(".acr-steward", "azurite");
const LOCK_FILE = "acr-steward.lock";

/** Azurite's well-known development account: public and documented, not a secret. */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const LOOPBACK = "127.0.0.1";
/** Azurite's own keep-alive default (seconds). */
const KEEP_ALIVE_SECONDS = 5;

// Azurite ships no type declarations; these are the few members we use.
interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  readonly httpServer: Server;
}
type AzuriteServerClass = new (configuration: unknown) => AzuriteServer;
type AzuriteConfigurationClass = new (...args: unknown[]) => unknown;

interface PersistenceLocation {
  locationId: string;
  locationPath: string;
  maxConcurrency: number;
}

const SERVICE_MODULES: Record<EmbeddedService, { server: string; configuration: string }> = {
  blob: { server: "blob/BlobServer.js", configuration: "blob/BlobConfiguration.js" },
  queue: { server: "queue/QueueServer.js", configuration: "queue/QueueConfiguration.js" },
  table: { server: "table/TableServer.js", configuration: "table/TableConfiguration.js" },
};

const require = createRequire(import.meta.url);

function loadAzurite(service: EmbeddedService): {
  Server: AzuriteServerClass;
  Configuration: AzuriteConfigurationClass;
} {
  const modules = SERVICE_MODULES[service];
  const server = require(`azurite/dist/src/${modules.server}`) as { default?: unknown };
  const configuration = require(`azurite/dist/src/${modules.configuration}`) as { default?: unknown };
  if (typeof server.default !== "function" || typeof configuration.default !== "function") {
    throw new UnavailableError(`the installed azurite package has no ${service} server where expected`);
  }
  return {
    Server: server.default as AzuriteServerClass,
    Configuration: configuration.default as AzuriteConfigurationClass,
  };
}

/**
 * Azurite's configuration constructors take positional arguments (host, port, keep-alive, database
 * paths, ..., loose, skipApiVersionCheck); access and debug logs stay off so nothing is printed.
 */
function configurationFor(service: EmbeddedService, location: string, inMemory: boolean): unknown {
  const { Configuration } = loadAzurite(service);
  const logs = { enableAccessLog: false, accessLogWriteStream: undefined };
  const debug = { enableDebugLog: false, debugLogFilePath: undefined };
  const tail = [true /* loose */, true /* skipApiVersionCheck */, "", "", "", undefined, false, inMemory];
  if (service === "table") {
    return new Configuration(
      LOOPBACK,
      0,
      KEEP_ALIVE_SECONDS,
      join(location, "__azurite_db_table__.json"),
      debug.enableDebugLog,
      logs.enableAccessLog,
      logs.accessLogWriteStream,
      debug.debugLogFilePath,
      ...tail,
    );
  }
  const persistence: PersistenceLocation[] = [
    { locationId: "Default", locationPath: join(location, `__${service}storage__`), maxConcurrency: 1 },
  ];
  return new Configuration(
    LOOPBACK,
    0,
    KEEP_ALIVE_SECONDS,
    join(location, `__azurite_db_${service}__.json`),
    join(location, `__azurite_db_${service}_extent__.json`),
    persistence,
    logs.enableAccessLog,
    logs.accessLogWriteStream,
    debug.enableDebugLog,
    debug.debugLogFilePath,
    ...tail,
  );
}

/** Starts Azurite in this process on free loopback ports, with its data under `location`. */
export async function startEmbeddedStorage(options: EmbeddedStorageOptions = {}): Promise<EmbeddedStorage> {
  const inMemory = options.inMemory === true;
  const location = resolve(options.cwd ?? process.cwd(), options.location ?? EMBEDDED_STORAGE_FOLDER);
  const services = [...new Set(options.services ?? (["table", "queue"] as const))];
  let releaseLock = () => {};
  if (!inMemory) {
    try {
      mkdirSync(location, { recursive: true });
    } catch (error) {
      throw new UnavailableError(`cannot create the embedded store's folder ${location}`, { cause: error });
    }
    releaseLock = acquireLock(location);
  }
  const started: AzuriteServer[] = [];
  const ports: Partial<Record<EmbeddedService, number>> = {};
  try {
    for (const service of services) {
      const { Server } = loadAzurite(service);
      const server = new Server(configurationFor(service, location, inMemory));
      await server.start();
      started.push(server);
      ports[service] = (server.httpServer.address() as AddressInfo).port;
    }
  } catch (error) {
    await closeAll(started);
    releaseLock();
    throw new UnavailableError(`the embedded store${inMemory ? "" : ` in ${location}`} did not start`, {
      cause: error,
    });
  }

  let stopping: Promise<void> | undefined;
  return {
    connectionString: connectionStringFor(ports),
    location: inMemory ? undefined : location,
    ports,
    stop() {
      stopping ??= closeAll(started).finally(releaseLock);
      return stopping;
    },
  };
}

/**
 * Runs `work` with the embedded store and stops it afterwards, whatever happens. An interrupt
 * (Ctrl-C, SIGTERM) stops it first, so that its data is saved, and then ends the process as the
 * signal would have.
 */
export async function withEmbeddedStorage<T>(
  work: (storage: EmbeddedStorage) => Promise<T>,
  options: EmbeddedStorageOptions = {},
): Promise<T> {
  const storage = await startEmbeddedStorage(options);
  const onSignal = (signal: NodeJS.Signals) => {
    removeHandlers();
    void storage.stop().finally(() => process.kill(process.pid, signal));
  };
  const removeHandlers = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await work(storage);
  } finally {
    removeHandlers();
    await storage.stop();
  }
}

export function connectionStringFor(ports: Partial<Record<EmbeddedService, number>>): string {
  const endpoint = (service: EmbeddedService, name: string) =>
    ports[service] === undefined ? [] : [`${name}=http://${LOOPBACK}:${ports[service]}/${DEV_ACCOUNT}`];
  return [
    "DefaultEndpointsProtocol=http",
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    ...endpoint("blob", "BlobEndpoint"),
    ...endpoint("queue", "QueueEndpoint"),
    ...endpoint("table", "TableEndpoint"),
  ].join(";");
}

async function closeAll(servers: readonly AzuriteServer[]): Promise<void> {
  // Closing saves each service's database; one failing must not keep the others open.
  const results = await Promise.allSettled(servers.map((server) => server.close()));
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw new UnavailableError("the embedded store did not stop cleanly", { cause: failed.reason });
}

/** Takes the data folder for this process; returns the release function. */
function acquireLock(location: string): () => void {
  const file = join(location, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new UnavailableError(`cannot lock the embedded store in ${location}`, { cause: error });
      }
    }
    const holder = Number.parseInt(readLock(file), 10);
    if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
      throw new ConflictError(
        `the embedded store in ${location} is in use by another acr-steward process (pid ${holder}); wait for it to finish, or pass --store`,
      );
    }
    // The holder is gone (killed without cleaning up): its lock means nothing any more.
    rmSync(file, { force: true });
  }
  throw new ConflictError(`the embedded store in ${location} was locked by another process meanwhile`);
}

function readLock(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The storage a command works on: the one given with `--store`, or the embedded one. */
export interface CommandStore {
  readonly connectionString: string;
  /** True for the embedded store under `.acr-steward/`. */
  readonly embedded: boolean;
  /** For messages: "the embedded store in /path/.acr-steward/azurite" or "the --store account". */
  readonly description: string;
}

/**
 * Runs `work` on `--store CONNECTION_STRING` when given, otherwise on the embedded store (started
 * for the command, stopped after it). Commands that read or write the inventory use this.
 */
export async function withStore<T>(
  connectionString: string | undefined,
  work: (store: CommandStore) => Promise<T>,
  options: EmbeddedStorageOptions = {},
): Promise<T> {
  if (connectionString !== undefined && connectionString.trim() !== "") {
    return work({ connectionString, embedded: false, description: "the --store account" });
  }
  return withEmbeddedStorage(
    (storage) =>
      work({
        connectionString: storage.connectionString,
        embedded: true,
        description:
          storage.location === undefined
            ? "the in-memory store"
            : `the embedded store in ${storage.location}`,
      }),
    options,
  );
}

/** What commands working on the inventory need from the outside world; tests pass their own. */
export interface StoreCommandDependencies {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => Date;
  /** Where the embedded store lives (tests use a temporary folder). */
  readonly embeddedStorage?: EmbeddedStorageOptions;
}

export function defaultStoreCommandDependencies(): StoreCommandDependencies {
  return { io: processIo(), env: process.env, now: () => new Date() };
}
