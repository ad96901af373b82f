import { InvocationContext, type Timer } from "@azure/functions";
import { QueueClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReconcileRepositoryHandler } from "../../../functions/reconcileRepository.js";
import { createSweepHandler } from "../../../functions/sweep.js";
import { loadConfig } from "../../../shared/config/config.js";
import {
  decodeQueueMessage,
  type ReconcileRequest,
  ReconcileRequestSchema,
} from "../../../shared/queues/messages.js";
import { openRegistry } from "../../../shared/registry/openRegistry.js";
import { buildSweepRuntime, type SweepRuntime } from "../../../shared/runtime/index.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";
import { inventoryView, registryTruth } from "./harness.js";

/** The timer fan-out and the queue trigger, driven without the Functions host. */

let connectionString: string;
let env: TestEmulator;
let runtime: SweepRuntime;
const names = {
  tables: {
    manifests: uniqueName("fnm"),
    tags: uniqueName("fnt"),
    audit: uniqueName("fna"),
    coordination: uniqueName("fnc"),
    scans: uniqueName("fns"),
  },
  queues: {
    scanRequests: uniqueName("fnq-scan"),
    retentionRequests: uniqueName("fnq-ret"),
    reconcileRequests: uniqueName("fnq-rec"),
  },
};

beforeAll(async () => {
  connectionString = await getTestStorage();
  env = await startTestEmulator({ seed: { kind: "demo" } });
  const config = loadConfig({
    ACR_STEWARD_REGISTRIES: env.loginServer,
    ACR_STEWARD_STORAGE: connectionString,
  });
  runtime = await buildSweepRuntime(config, {
    names,
    openRegistry: (loginServer, cfg) =>
      openRegistry({
        registry: loginServer,
        credentials: { kind: "token", credential: env.credential },
        allowList: cfg.registries,
        caCertPem: env.emulator.caCert,
      }),
  });
}, 60_000);

afterAll(async () => {
  await env?.close();
  await stopTestStorage();
});

function context(functionName: string, logs: unknown[][], errors: string[]): InvocationContext {
  return new InvocationContext({
    functionName,
    triggerMetadata: { id: "message-1", dequeueCount: 1 },
    logHandler: (level, ...args) => {
      if (level === "error") errors.push(args.map((arg) => JSON.stringify(arg)).join(" "));
      else logs.push(args);
    },
  });
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: true },
  scheduleStatus: { last: "", next: "", lastUpdated: "" },
};

async function drain(queueName: string): Promise<string[]> {
  const queue = new QueueClient(connectionString, queueName);
  const texts: string[] = [];
  for (;;) {
    const received = await queue.receiveMessages({ numberOfMessages: 32 });
    if (received.receivedMessageItems.length === 0) return texts;
    for (const item of received.receivedMessageItems) {
      texts.push(item.messageText);
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}

describe("sweep functions", () => {
  it("the timer fans out one message per repository; the queue trigger reconciles each", async () => {
    const logs: unknown[][] = [];
    const errors: string[] = [];
    await createSweepHandler(async () => runtime)(timer, context("sweep", logs, errors));
    expect(errors).toEqual([]);
    const messages = (await drain(names.queues.reconcileRequests)).map((text) =>
      decodeQueueMessage(ReconcileRequestSchema, text),
    );
    const registry = await runtime.openRegistry(env.loginServer);
    const repositories: string[] = [];
    for await (const repository of registry.listRepositories()) repositories.push(repository);
    expect(messages.map((m) => m.repository).sort()).toEqual(repositories.sort());
    expect(new Set(messages.map((m) => m.sweepId)).size).toBe(1);
    expect(messages.every((m) => m.registry === env.loginServer)).toBe(true);

    const reconcile = createReconcileRepositoryHandler(async () => runtime);
    // The host hands the handler the decoded JSON object.
    for (const message of messages) await reconcile(message, context("reconcileRepository", logs, errors));
    expect(errors).toEqual([]);
    expect(
      await inventoryView({ registry, storage: runtime.storage } as Parameters<typeof inventoryView>[0]),
    ).toEqual(await registryTruth(registry));
    // Scans for the images and a retention request per repository were queued.
    expect((await drain(names.queues.scanRequests)).length).toBeGreaterThan(0);
    // Retention requests are debounced (sent invisible for a while): count them instead of reading them.
    const retention = await new QueueClient(connectionString, names.queues.retentionRequests).getProperties();
    expect(retention.approximateMessagesCount).toBe(repositories.length);

    // A duplicate delivery is skipped; a second timer run of the unfinished run sends nothing new.
    logs.length = 0;
    await reconcile(messages[0] as ReconcileRequest, context("reconcileRepository", logs, errors));
    expect(logs.some((args) => String(args[0]).includes("already reconciled"))).toBe(true);
    await createSweepHandler(async () => runtime)(timer, context("sweep", logs, errors));
    expect(await drain(names.queues.reconcileRequests)).toEqual([]);
  }, 60_000);

  it("drops messages that can never succeed, and throws what a retry may fix", async () => {
    const logs: unknown[][] = [];
    const errors: string[] = [];
    const reconcile = createReconcileRepositoryHandler(async () => runtime);
    await reconcile({ version: 1, registry: env.loginServer }, context("reconcileRepository", logs, errors));
    expect(errors.join(" ")).toContain("not a valid reconcile request");

    errors.length = 0;
    const foreign: ReconcileRequest = {
      version: 1,
      sweepId: "s1",
      registry: "other.azurecr.io",
      repository: "team/web",
      requestedAt: new Date().toISOString(),
    };
    await reconcile(foreign, context("reconcileRepository", logs, errors));
    expect(errors.join(" ")).toContain("allow-list");

    env.emulator.setFaults({ failRates: { "500": 1 } });
    try {
      await expect(
        reconcile(
          { ...foreign, sweepId: "s2", registry: env.loginServer },
          context("reconcileRepository", logs, errors),
        ),
      ).rejects.toThrow();
    } finally {
      env.emulator.setFaults({ failRates: {} });
    }
  }, 60_000);
});
