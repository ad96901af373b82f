/**
 * Security and consistency properties of the compiled infrastructure (infra/main.bicep as ARM JSON).
 *
 * Needs the Bicep CLI (scripts/restore-bicep.sh restores it from NuGet). In CI (CI=true) a missing CLI
 * fails these tests; on a developer machine without it they are not run, and the suite title and a
 * console line say so. `describe.runIf` rather than `.skip`: the skip is decided by the environment,
 * and the lint rule against skipped tests guards against tests switched off by hand.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  BLOB_CONTAINERS,
  QUEUE_NAMES,
  SETTINGS,
  STORAGE_CONNECTION,
  TABLE_NAMES,
} from "../../../shared/config/settings.js";
import {
  type ArmTemplate,
  allScopes,
  BICEP_HINT,
  compileMainTemplate,
  createdResources,
  findBicepCli,
  type Json,
  ofType,
  type PlacedResource,
  propertyAt,
  resolveValue,
  stringsIn,
} from "./compiledTemplate.js";

/** The only built-in roles acr-steward may hand out (ids from Azure's built-in role list). */
const ALLOWED_ROLES: Readonly<Record<string, string>> = {
  AcrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
  AcrPush: "8311e382-0749-4cb8-b61a-304f252e45ec",
  AcrDelete: "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
  ContainerRegistryRepositoryReader: "b93aa761-3e63-49ed-ac28-beffa264f7ac",
  ContainerRegistryRepositoryWriter: "2a1e307c-b015-4ebd-883e-5b7698a07328",
  ContainerRegistryRepositoryContributor: "2efddaa5-3f1f-4df3-97df-af3f13818f4c",
  ContainerRegistryRepositoryCatalogLister: "bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7",
  StorageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  StorageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  StorageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  StorageQueueDataMessageSender: "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
  StorageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  MonitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
  EventGridDataSender: "d5a91429-5739-47e2-a06b-3470a27159e7",
};

const IMAGE_EVENTS = ["Microsoft.ContainerRegistry.ImageDeleted", "Microsoft.ContainerRegistry.ImagePushed"];
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Ways a key or key-bearing string could leak into a template. */
const KEY_MATERIAL =
  /listKeys|listSecrets|listAccountSas|listServiceSas|listCredentials|AccountKey=|SharedAccessKey|SharedAccessSignature|DefaultEndpointsProtocol=|primaryKey|secondaryKey|primaryMasterKey/i;
const SECRET_NAME = /key|secret|password|connectionstring|\bsas\b|token|credential/i;
/** Identity-based settings that replace the connection-string form in Azure. */
const IDENTITY_SUFFIXES = [
  "__queueServiceUri",
  "__tableServiceUri",
  "__blobServiceUri",
  "__credential",
  "__clientId",
];

const cli = findBicepCli();
const inCi = process.env.CI === "true";
const runnable = cli !== undefined || inCi;
if (!runnable) console.warn(`infrastructure tests skipped: no Bicep CLI (${BICEP_HINT})`);
const title = runnable
  ? "compiled infra/main.bicep"
  : `compiled infra/main.bicep — SKIPPED: no Bicep CLI (${BICEP_HINT})`;

function one(resources: PlacedResource[], what: string): PlacedResource {
  expect(resources, what).toHaveLength(1);
  return resources[0] as PlacedResource;
}

/** Keys an app-settings value sets: object literal keys, or the keys inside a union(...) expression. */
function settingKeys(placed: PlacedResource): { always: Set<string>; conditional: Map<string, string> } {
  const properties = placed.resource.properties;
  const always = new Set<string>();
  const conditional = new Map<string, string>();
  if (typeof properties === "object" && properties !== null && !Array.isArray(properties)) {
    for (const key of Object.keys(properties)) always.add(key);
    return { always, conditional };
  }
  const expression = String(properties);
  for (const [, name] of expression.matchAll(/variables\('([^']+)'\)/g)) {
    const value = resolveValue(`[variables('${name}')]`, placed.scope);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const key of Object.keys(value)) always.add(key);
    } else {
      // A conditional object: keep the keys and the expression that builds them.
      for (const [, key] of String(value).matchAll(/createObject\('([^']+)'/g))
        conditional.set(String(key), String(value));
    }
  }
  const direct = expression.replace(/variables\('[^']+'\)/g, "");
  for (const [, key] of direct.matchAll(/createObject\('([^']+)'/g)) always.add(String(key));
  return { always, conditional };
}

describe.runIf(runnable)(title, () => {
  let main: ArmTemplate;
  let resources: PlacedResource[];
  let text: string;

  beforeAll(() => {
    if (cli === undefined) {
      throw new Error(`CI=true but no Bicep CLI was found (.bicep-cli/bicep or $BICEP_CLI): ${BICEP_HINT}`);
    }
    main = compileMainTemplate(cli);
    resources = createdResources(main);
    text = JSON.stringify(main);
  });

  describe("storage", () => {
    it("is identity-only: no shared keys, HTTPS with TLS 1.2, no anonymous blob access", () => {
      const storage = one(ofType(resources, "Microsoft.Storage/storageAccounts"), "storage accounts");
      expect(propertyAt(storage, "properties.allowSharedKeyAccess")).toBe(false);
      expect(propertyAt(storage, "properties.minimumTlsVersion")).toBe("TLS1_2");
      expect(propertyAt(storage, "properties.supportsHttpsTrafficOnly")).toBe(true);
      expect(propertyAt(storage, "properties.allowBlobPublicAccess")).toBe(false);
      for (const container of ofType(
        resources,
        "Microsoft.Storage/storageAccounts/blobServices/containers",
      )) {
        expect(propertyAt(container, "properties.publicAccess")).toBe("None");
      }
    });

    it("creates exactly the queues, tables and containers named in shared/config/settings.ts", () => {
      const variables = main.variables ?? {};
      expect(variables.queueNames).toEqual(QUEUE_NAMES);
      expect(variables.tableNames).toEqual(TABLE_NAMES);
      expect(variables.blobContainers).toEqual(BLOB_CONTAINERS);
      const storageModule = allScopes(main).find((scope) => scope.path === "main/storage");
      expect(storageModule, "storage module").toBeDefined();
      const passed = JSON.stringify(storageModule?.parameterValues);
      expect(passed).toContain("variables('queueNames')");
      expect(passed).toContain("variables('tableNames')");
      expect(passed).toContain("variables('blobContainers')");
    });
  });

  describe("role assignments", () => {
    it("use only allow-listed built-in roles", () => {
      const declared = JSON.parse(readFileSync("infra/modules/roles.json", "utf8")) as Record<string, string>;
      for (const [name, id] of Object.entries(declared)) expect(ALLOWED_ROLES[name], name).toBe(id);
      const allowed = new Set(Object.values(ALLOWED_ROLES));
      const guids = new Set([...text.matchAll(GUID)].map(([guid]) => guid.toLowerCase()));
      expect(guids.size).toBeGreaterThan(0);
      for (const guid of guids) expect(allowed.has(guid), `GUID ${guid} in the template`).toBe(true);
    });

    it("are scoped to a resource (storage account, queue, container, registry, component, topic), never wider", () => {
      const assignments = ofType(resources, "Microsoft.Authorization/roleAssignments");
      expect(assignments.length).toBeGreaterThanOrEqual(8);
      for (const assignment of assignments) {
        const scope = String(assignment.resource.scope ?? "");
        expect(scope, assignment.scope.path).toMatch(
          /Microsoft\.(Storage|ContainerRegistry|Insights|EventGrid)\/|resourceId\('Microsoft\.(Storage|ContainerRegistry|Insights|EventGrid)/,
        );
        expect(String(propertyAt(assignment, "properties.roleDefinitionId"))).toContain(
          "Microsoft.Authorization/roleDefinitions",
        );
      }
    });

    it("give the function app and the scanner only the storage roles their work needs", () => {
      const grants = (path: string) => {
        const scope = allScopes(main).find((candidate) => candidate.path === path);
        expect(scope, path).toBeDefined();
        const values = scope?.parameterValues ?? {};
        return { account: values.accountRoles, containers: values.containerRoles, queues: values.queueRoles };
      };
      expect(grants("main/function-storage-access")).toEqual({
        account: ["StorageBlobDataOwner", "StorageQueueDataContributor", "StorageTableDataContributor"],
        containers: undefined,
        queues: undefined,
      });
      const scanner = grants("main/scanner-storage-access");
      expect(scanner.account).toEqual(["StorageQueueDataContributor", "StorageTableDataContributor"]);
      expect(scanner.queues).toBeUndefined();
      const scannerScope = allScopes(main).find(
        (candidate) => candidate.path === "main/scanner-storage-access",
      );
      const parent = scannerScope?.parent;
      if (parent === undefined) throw new Error("scanner-storage-access module not found");
      const containers = scanner.containers as { containerName: Json; role: string }[];
      expect(
        containers.map((grant) => ({
          role: grant.role,
          container: resolveValue(grant.containerName, parent),
        })),
      ).toEqual([{ role: "StorageBlobDataContributor", container: BLOB_CONTAINERS.scanReports }]);
    });

    it("give the Event Grid topic identity only queue-send on registry-events and blob write on the dead-letter container", () => {
      const topicAccess = allScopes(main).find((scope) =>
        scope.path.endsWith("registry-events-topic-storage-access"),
      );
      expect(topicAccess).toBeDefined();
      if (topicAccess === undefined) return;
      const queueRoles = resolveValue(
        topicAccess.parameterValues.queueRoles,
        topicAccess.parent ?? topicAccess,
      );
      const containerRoles = resolveValue(
        topicAccess.parameterValues.containerRoles,
        topicAccess.parent ?? topicAccess,
      );
      expect(topicAccess.parameterValues.accountRoles).toBeUndefined();
      const simplify = (grants: Json | undefined) =>
        (grants as { role: string; queueName?: string; containerName?: string }[]).map((grant) => ({
          role: grant.role,
          target: resolveValue(grant.queueName ?? grant.containerName, topicAccess.parent ?? topicAccess),
        }));
      expect(simplify(queueRoles)).toEqual([
        { role: "StorageQueueDataMessageSender", target: QUEUE_NAMES.registryEvents },
      ]);
      expect(simplify(containerRoles)).toEqual([
        { role: "StorageBlobDataContributor", target: BLOB_CONTAINERS.eventsDeadLetter },
      ]);
    });
  });

  describe("secrets", () => {
    it("no template reads keys, SAS or connection strings of storage or anything else", () => {
      for (const [path, value] of stringsIn(main as unknown as Json)) {
        expect(KEY_MATERIAL.test(value), `${path}: ${value.slice(0, 120)}`).toBe(false);
      }
    });

    it("no output or parameter default carries a key, secret or connection string", () => {
      for (const scope of allScopes(main)) {
        for (const [name, output] of Object.entries(scope.template.outputs ?? {})) {
          expect(SECRET_NAME.test(name), `output ${scope.path}:${name}`).toBe(false);
          expect(JSON.stringify(output.value), `output ${scope.path}:${name}`).not.toMatch(
            /ConnectionString/,
          );
          expect(KEY_MATERIAL.test(JSON.stringify(output.value)), `output ${scope.path}:${name}`).toBe(false);
        }
        for (const [name, parameter] of Object.entries(scope.template.parameters ?? {})) {
          if (parameter.type.toLowerCase().startsWith("secure")) {
            expect(parameter.defaultValue, `secure parameter ${scope.path}:${name}`).toBeUndefined();
          }
          const fallback = JSON.stringify(parameter.defaultValue ?? "");
          expect(
            KEY_MATERIAL.test(fallback) || /ConnectionString|InstrumentationKey=/i.test(fallback),
            name,
          ).toBe(false);
        }
      }
      const parameterFile = readFileSync("infra/main.parameters.json", "utf8");
      expect(KEY_MATERIAL.test(parameterFile)).toBe(false);
      expect(parameterFile).not.toMatch(/ConnectionString|InstrumentationKey=|SECRET=|"secret/i);
    });

    it("Application Insights and the scan-events topic accept Entra tokens only", () => {
      const component = one(ofType(resources, "Microsoft.Insights/components"), "Application Insights");
      expect(propertyAt(component, "properties.DisableLocalAuth")).toBe(true);
      const workspace = one(ofType(resources, "Microsoft.OperationalInsights/workspaces"), "Log Analytics");
      expect(propertyAt(workspace, "properties.features.disableLocalAuth")).toBe(true);
      const topic = one(ofType(resources, "Microsoft.EventGrid/topics"), "ScanCompleted topic");
      expect(propertyAt(topic, "properties.disableLocalAuth")).toBe(true);
      const registry = one(ofType(resources, "Microsoft.ContainerRegistry/registries"), "new registry");
      expect(propertyAt(registry, "properties.adminUserEnabled")).toBe(false);
      expect(propertyAt(registry, "properties.anonymousPullEnabled")).toBe(false);
    });
  });

  describe("Event Grid", () => {
    it("subscribes to exactly ImagePushed and ImageDeleted, with retries and dead-lettering by identity", () => {
      const subscriptions = ofType(resources, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
      expect(subscriptions.length).toBeGreaterThanOrEqual(1);
      for (const subscription of subscriptions) {
        const types = propertyAt(subscription, "properties.filter.includedEventTypes") as string[];
        expect([...types].sort()).toEqual(IMAGE_EVENTS);
        expect(propertyAt(subscription, "properties.retryPolicy.maxDeliveryAttempts")).toEqual(
          expect.any(Number),
        );
        expect(propertyAt(subscription, "properties.retryPolicy.eventTimeToLiveInMinutes")).toEqual(
          expect.any(Number),
        );
        expect(propertyAt(subscription, "properties.deadLetterDestination")).toBeUndefined();
        const deadLetter = "properties.deadLetterWithResourceIdentity";
        expect(propertyAt(subscription, `${deadLetter}.identity.type`)).toBe("SystemAssigned");
        expect(propertyAt(subscription, `${deadLetter}.deadLetterDestination.endpointType`)).toBe(
          "StorageBlob",
        );
        expect(
          propertyAt(subscription, `${deadLetter}.deadLetterDestination.properties.blobContainerName`),
        ).toBe(BLOB_CONTAINERS.eventsDeadLetter);
      }
    });

    it("delivers to the registry-events queue with the system topic's own identity", () => {
      const subscriptions = ofType(resources, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
      const toQueue = subscriptions.filter(
        (s) =>
          propertyAt(s, "properties.deliveryWithResourceIdentity.destination.endpointType") ===
          "StorageQueue",
      );
      const queueSubscription = one(toQueue, "queue subscriptions");
      const delivery = "properties.deliveryWithResourceIdentity";
      expect(propertyAt(queueSubscription, `${delivery}.identity.type`)).toBe("SystemAssigned");
      expect(propertyAt(queueSubscription, `${delivery}.destination.properties.queueName`)).toBe(
        QUEUE_NAMES.registryEvents,
      );
      expect(propertyAt(queueSubscription, "properties.destination")).toBeUndefined();
      const topic = one(ofType(resources, "Microsoft.EventGrid/systemTopics"), "system topics");
      expect(propertyAt(topic, "identity.type")).toBe("SystemAssigned");
      expect(propertyAt(topic, "properties.topicType")).toBe("Microsoft.ContainerRegistry.Registries");
      // No subscription delivers to a webhook URL, which would carry a function key.
      expect(text).not.toMatch(/"endpointType":\s*"WebHook"/);
    });
  });

  describe("function app", () => {
    it("runs on Flex Consumption (FC1) with Node 22 and identity-based deployment storage", () => {
      const plan = one(ofType(resources, "Microsoft.Web/serverfarms"), "plans");
      expect(propertyAt(plan, "sku.name")).toBe("FC1");
      expect(propertyAt(plan, "sku.tier")).toBe("FlexConsumption");
      const site = one(ofType(resources, "Microsoft.Web/sites"), "sites");
      expect(propertyAt(site, "kind")).toBe("functionapp,linux");
      expect(propertyAt(site, "properties.httpsOnly")).toBe(true);
      expect(propertyAt(site, "properties.functionAppConfig.runtime")).toEqual({
        name: "node",
        version: "22",
      });
      expect(propertyAt(site, "properties.functionAppConfig.deployment.storage.authentication.type")).toBe(
        "UserAssignedIdentity",
      );
      expect(propertyAt(site, "identity.type")).toBe("UserAssigned");
      for (const policy of ofType(resources, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")) {
        expect(propertyAt(policy, "properties.allow")).toBe(false);
      }
    });

    it("sets every setting the functions read, storage by identity, and the webhook secret only as a Key Vault reference", () => {
      const config = one(ofType(resources, "Microsoft.Web/sites/config"), "app settings");
      const { always, conditional } = settingKeys(config);
      for (const setting of SETTINGS.filter((s) => s.readBy.includes("functions"))) {
        if (setting.name === STORAGE_CONNECTION) {
          for (const suffix of IDENTITY_SUFFIXES)
            expect(always.has(`${setting.name}${suffix}`), suffix).toBe(true);
          expect(always.has(setting.name), "no connection-string form").toBe(false);
        } else if (setting.secret) {
          expect(always.has(setting.name), `${setting.name} has no value in the template`).toBe(false);
          expect(conditional.get(setting.name), setting.name).toMatch(
            new RegExp(`'${setting.name}', format\\('@Microsoft\\.KeyVault\\(SecretUri=\\{0\\}\\)'`),
          );
        } else {
          expect(always.has(setting.name), setting.name).toBe(true);
        }
      }
      for (const suffix of ["__credential", "__clientId", "__blobServiceUri"]) {
        expect(always.has(`AzureWebJobsStorage${suffix}`), `AzureWebJobsStorage${suffix}`).toBe(true);
      }
      // Settings Flex Consumption rejects, and the connection-string form of host storage.
      for (const banned of [
        "AzureWebJobsStorage",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
      ]) {
        expect(always.has(banned), banned).toBe(false);
      }
      const settings = resolveValue("[variables('appSettings')]", config.scope) as Record<string, Json>;
      expect(settings.AzureWebJobsStorage__credential).toBe("managedidentity");
      expect(settings[`${STORAGE_CONNECTION}__credential`]).toBe("managedidentity");
      expect(String(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING)).toContain("Authorization=AAD");
    });
  });

  describe("scan job", () => {
    it("is queue-driven by scan-requests with an identity-based scale rule and pulls its image with the identity", () => {
      const job = one(ofType(resources, "Microsoft.App/jobs"), "jobs");
      expect(String(job.resource.apiVersion) >= "2025-01-01").toBe(true);
      expect(propertyAt(job, "properties.configuration.triggerType")).toBe("Event");
      const rules = propertyAt(job, "properties.configuration.eventTriggerConfig.scale.rules") as Json[];
      expect(rules).toHaveLength(1);
      const rule = propertyAt(job, "properties.configuration.eventTriggerConfig.scale.rules.0") as Record<
        string,
        Json
      >;
      expect(rule.type).toBe("azure-queue");
      expect(rule.identity).toEqual(expect.stringMatching(/identityId/));
      expect(rule.auth).toBeUndefined();
      const metadata = rule.metadata as Record<string, Json>;
      expect(resolveValue(metadata.queueName, job.scope)).toBe(QUEUE_NAMES.scanRequests);
      expect(metadata.accountName).toEqual(expect.stringMatching(/\S/));
      const registries = propertyAt(job, "properties.configuration.registries") as Record<string, Json>[];
      expect(registries).toHaveLength(1);
      expect(registries[0]?.identity).toEqual(expect.stringMatching(/identityId/));
      expect(registries[0]?.passwordSecretRef).toBeUndefined();
      expect(propertyAt(job, "properties.configuration.secrets")).toBeUndefined();
    });

    it("passes every setting the scanner reads as an environment variable", () => {
      const job = one(ofType(resources, "Microsoft.App/jobs"), "jobs");
      const env = propertyAt(job, "properties.template.containers.0.env") as { name: string; value?: Json }[];
      const names = new Set(env.map((variable) => variable.name));
      for (const setting of SETTINGS.filter((s) => s.readBy.includes("scanner"))) {
        if (setting.name === STORAGE_CONNECTION) {
          for (const suffix of IDENTITY_SUFFIXES)
            expect(names.has(`${setting.name}${suffix}`), suffix).toBe(true);
        } else {
          expect(names.has(setting.name), setting.name).toBe(true);
        }
      }
      for (const variable of env)
        expect(Object.keys(variable).sort(), variable.name).toEqual(["name", "value"]);
    });
    it("publishes ScanCompleted in the schema the topic accepts", () => {
      const job = one(ofType(resources, "Microsoft.App/jobs"), "jobs");
      const topic = one(ofType(resources, "Microsoft.EventGrid/topics"), "ScanCompleted topic");
      // Both follow one parameter; the compiled job command maps it to the worker's --events-schema flag.
      const command = JSON.stringify(propertyAt(job, "properties.template.containers.0.command"));
      expect(command).toContain(
        "'--events-schema', if(equals(parameters('scanEventsSchema'), 'CloudEventSchemaV1_0'), 'CloudEvent', 'EventGrid')",
      );
      expect(resolveValue("[parameters('scanEventsSchema')]", job.scope)).toBe(
        propertyAt(topic, "properties.inputSchema"),
      );
    });
  });

  describe("azd wiring", () => {
    it("tags one resource per azure.yaml service with azd-service-name", () => {
      const project = parseYaml(readFileSync("azure.yaml", "utf8")) as {
        services: Record<string, { host: string }>;
      };
      const tagged = new Map<string, string>();
      for (const placed of resources) {
        const tags = propertyAt(placed, "tags");
        const literal = JSON.stringify(tags ?? "");
        const match = /azd-service-name'?"?[,:]\s*'?"?([a-z-]+)/.exec(literal);
        if (match?.[1]) tagged.set(match[1], String(placed.resource.type));
      }
      expect([...tagged.keys()].sort()).toEqual(Object.keys(project.services).sort());
      expect(tagged.get("functions")).toBe("Microsoft.Web/sites");
      expect(tagged.get("scanner")).toBe("Microsoft.App/jobs");
    });

    it("deploys into its own resource group only, so azd down never deletes the registry's", () => {
      const rgName = (main.resources as Json[])
        .map((resource) => resource as Record<string, Json>)
        .find((resource) => resource.type === "Microsoft.Resources/resourceGroups")?.name;
      expect(rgName).toEqual(expect.any(String));
      const deployments = (main.resources as Record<string, Json>[]).filter(
        (resource) => resource.type === "Microsoft.Resources/deployments",
      );
      expect(deployments.length).toBeGreaterThan(5);
      for (const deployment of deployments)
        expect(deployment.resourceGroup, String(deployment.name)).toBe(rgName);
      const wiring = deployments.find((deployment) => deployment.name === "registry-wiring");
      expect(wiring?.condition).toBe("[variables('wireRegistryInTemplate')]");
      expect(String(main.variables?.wireRegistryInTemplate)).toContain(
        "variables('registryResourceGroupName')",
      );
      expect(JSON.stringify(wiring?.properties ?? null)).not.toContain("azd-env-name");
    });

    it("the postprovision hook deploys the same wiring module with every parameter it requires", () => {
      const script = readFileSync("infra/hooks/wire-registry.sh", "utf8");
      expect(script).toContain("--template-file infra/modules/registry-wiring.bicep");
      const wiring = allScopes(main).find((scope) => scope.path === "main/registry-wiring");
      const parameters = Object.entries(wiring?.template.parameters ?? {});
      expect(parameters.length).toBeGreaterThan(5);
      for (const [name, parameter] of parameters) {
        if (parameter.defaultValue === undefined) expect(script, name).toMatch(new RegExp(`\\b${name}=`));
      }
      const outputs = new Set(Object.keys(main.outputs ?? {}));
      const fromAzd = new Set(["AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID"]);
      for (const hook of ["infra/hooks/wire-registry.sh", "infra/hooks/unwire-registry.sh"]) {
        const used = [...readFileSync(hook, "utf8").matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)].map(([, name]) =>
          String(name),
        );
        for (const name of used)
          expect(outputs.has(name) || fromAzd.has(name), `${hook}: ${name}`).toBe(true);
      }
    });

    it("main.parameters.json sets only parameters main.bicep declares", () => {
      const file = JSON.parse(readFileSync("infra/main.parameters.json", "utf8")) as {
        parameters: Record<string, unknown>;
      };
      const declared = Object.keys(main.parameters ?? {});
      for (const name of Object.keys(file.parameters)) expect(declared, name).toContain(name);
    });
  });
});
