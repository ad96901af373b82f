import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { type AccessEntry, TokenAuthority } from "./auth.js";
import { type EventDelivery, type EventDeliveryOptions, startEventDelivery } from "./eventDelivery.js";
import { FaultInjector, type FaultSettings } from "./faults.js";
import { RegistryNotifications } from "./notifications.js";
import {
  type EmulatorOptionsInput,
  EmulatorOptionsSchema,
  type ResolvedEmulatorOptions,
  type SeedSpec,
} from "./options.js";
import { applySeed, type SeedSummary } from "./seeds.js";
import { EmulatorCore } from "./server.js";
import { type EmulatorStats, StatsRecorder } from "./stats.js";
import { RegistryStore } from "./store.js";
import { prepareTls } from "./tls.js";

/**
 * A local Azure Container Registry over HTTPS: OAuth2 like ACR, the OCI distribution API, ACR's
 * `/acr/v1` metadata API, events, faults and throttling. Binds 127.0.0.1 only.
 */

export type EmulatorOptions = EmulatorOptionsInput & {
  /** Receives one line per request (method, path, status, duration; never tokens). */
  readonly log?: (line: string) => void;
  /** Clock for stored times and tokens (tests); defaults to Date.now. */
  readonly clock?: () => number;
  /**
   * Further event delivery settings (custom headers, CA, retry tuning); the subscriber URLs and the
   * schema come from `eventsUrl`, `eventsSchema` and `webhookUrl`.
   */
  readonly events?: Omit<EventDeliveryOptions, "eventsUrl" | "eventsSchema" | "webhookUrl">;
};

export interface RunningEmulator {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, what ACR calls the login server. */
  readonly loginServer: string;
  readonly port: number;
  /** Absolute path of the CA certificate (PEM) to trust. */
  readonly caCertFile: string;
  /** The CA certificate itself, for `tlsOptions: { ca }`. */
  readonly caCert: string;
  /** The in-memory registry, for seeding and assertions. */
  readonly store: RegistryStore;
  /** Manifest push/delete notifications (what events and webhooks are made from). */
  readonly notifications: RegistryNotifications;
  readonly options: Readonly<ResolvedEmulatorOptions>;
  stats(): EmulatorStats;
  resetStats(): void;
  /** Changes latency, fail rates, Retry-After or budgets while running; `randomSeed` restarts the sequence. */
  setFaults(changes: Partial<FaultSettings> & { randomSeed?: number }): void;
  seed(spec: SeedSpec): SeedSummary;
  /** Mints an access token directly (raw-HTTP tests); e.g. `[{type:"repository",name:"a",actions:["pull"]}]`. */
  issueAccessToken(access: readonly AccessEntry[], subject?: string): string;
  close(): Promise<void>;
}

export async function startEmulator(input: EmulatorOptions = {}): Promise<RunningEmulator> {
  const { log, clock = Date.now, events, ...rest } = input;
  const options = EmulatorOptionsSchema.parse(rest);
  const tls = await prepareTls(options.tlsDir);
  const store = new RegistryStore(clock);
  const authority = new TokenAuthority(clock);
  const faults = new FaultInjector(
    {
      latencyMs: options.latencyMs,
      failRates: options.failRates,
      retryAfterSeconds: options.retryAfterSeconds,
      rateLimits: options.rateLimits,
    },
    options.randomSeed,
    clock,
  );
  const stats = new StatsRecorder(clock);
  const notifications = new RegistryNotifications();
  const core = new EmulatorCore({
    store,
    authority,
    faults,
    stats,
    notifications,
    username: options.username,
    password: options.password,
    anonymousPull: options.anonymousPull,
    loginServer: "127.0.0.1:0",
    port: 0,
    log,
  });

  if (options.seed !== undefined) applySeed(store, options.seed, clock());

  const server: Server = createServer({ key: tls.serverKeyPem, cert: tls.serverCertPem }, (req, res) => {
    core.handle(req, res).catch(() => res.destroy());
  });
  server.on("clientError", (_error, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  server.on("tlsClientError", () => {});
  // Clients (SDK, skopeo) reuse connections; don't let idle sockets hold close() up.
  server.keepAliveTimeout = 5_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await tls.dispose();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const loginServer = `127.0.0.1:${port}`;
  core.bindAddress(port);

  let delivery: EventDelivery | undefined;
  if (options.eventsUrl !== undefined || options.webhookUrl !== undefined) {
    try {
      delivery = startEventDelivery(notifications, {
        ...events,
        ...(options.eventsUrl !== undefined ? { eventsUrl: options.eventsUrl } : {}),
        eventsSchema: options.eventsSchema,
        ...(options.webhookUrl !== undefined ? { webhookUrl: options.webhookUrl } : {}),
      });
    } catch (error) {
      await closeServer(server);
      await tls.dispose();
      throw error;
    }
  }

  let closing: Promise<void> | undefined;
  return {
    url: `https://${loginServer}`,
    loginServer,
    port,
    caCertFile: tls.caCertFile,
    caCert: tls.caCertPem,
    store,
    notifications,
    options,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    setFaults: (changes) => faults.update(changes),
    seed: (spec) => applySeed(store, spec, clock()),
    issueAccessToken: (access, subject = "emulator-test") =>
      authority.issueAccessToken(subject, loginServer, access).token,
    close: () => {
      closing ??= (async () => {
        if (delivery !== undefined) {
          await delivery.drain().catch(() => {});
          await delivery.close().catch(() => {});
        }
        await closeServer(server);
        await tls.dispose();
      })();
      return closing;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Connections still busy after a grace period are cut.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}

export type { AccessEntry } from "./auth.js";
export type { FaultSettings } from "./faults.js";
export type { EmulatorOptionsInput, ResolvedEmulatorOptions, SeedSpec } from "./options.js";
export { DEMO, type SeedSummary } from "./seeds.js";
export type { EmulatorStats } from "./stats.js";
export type { RegistryStore } from "./store.js";
