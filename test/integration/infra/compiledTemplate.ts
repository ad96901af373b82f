/**
 * Compiles infra/main.bicep with the restored Bicep CLI and gives tests a walkable view of the ARM
 * JSON: every resource of every nested deployment, each with the scope it was declared in, and a
 * small resolver for the `[parameters('x')]` / `[variables('y').z]` indirections Bicep emits when a
 * value passes from main.bicep into a module.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const BICEP_HINT = "run scripts/restore-bicep.sh";

/** The Bicep CLI: $BICEP_CLI, or the one scripts/restore-bicep.sh puts at .bicep-cli/bicep. */
export function findBicepCli(): string | undefined {
  const candidates = [process.env.BICEP_CLI, resolve(".bicep-cli/bicep")].filter(
    (path): path is string => typeof path === "string" && path.length > 0,
  );
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there or not executable: try the next one
    }
  }
  return undefined;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ArmTemplate {
  readonly parameters?: Record<string, { type: string; defaultValue?: Json; metadata?: JsonObject }>;
  readonly variables?: Record<string, Json>;
  readonly resources: JsonObject[] | Record<string, JsonObject>;
  readonly outputs?: Record<string, { type: string; value: Json }>;
}

/** A template and where its parameter values came from (the deployment resource that nests it). */
export interface TemplateScope {
  readonly path: string;
  readonly template: ArmTemplate;
  readonly parameterValues: Record<string, Json>;
  readonly parent?: TemplateScope;
}

export interface PlacedResource {
  readonly resource: JsonObject;
  readonly scope: TemplateScope;
}

export function compileMainTemplate(cli: string): ArmTemplate {
  const dir = mkdtempSync(join(tmpdir(), "acr-steward-bicep-"));
  try {
    const outfile = join(dir, "main.json");
    execFileSync(cli, ["build", "infra/main.bicep", "--outfile", outfile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT: "1" },
    });
    return JSON.parse(readFileSync(outfile, "utf8")) as ArmTemplate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function resourcesOf(template: ArmTemplate): JsonObject[] {
  return Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every template in the tree: main first, then each nested deployment's template. */
export function allScopes(main: ArmTemplate): TemplateScope[] {
  const scopes: TemplateScope[] = [];
  const visit = (scope: TemplateScope) => {
    scopes.push(scope);
    for (const resource of resourcesOf(scope.template)) {
      if (resource.type !== "Microsoft.Resources/deployments") continue;
      const properties = resource.properties;
      if (!isObject(properties) || !isObject(properties.template)) continue;
      const parameterValues: Record<string, Json> = {};
      if (isObject(properties.parameters)) {
        for (const [name, wrapper] of Object.entries(properties.parameters)) {
          if (isObject(wrapper) && "value" in wrapper) parameterValues[name] = wrapper.value ?? null;
        }
      }
      visit({
        path: `${scope.path}/${String(resource.name)}`,
        template: properties.template as unknown as ArmTemplate,
        parameterValues,
        parent: scope,
      });
    }
  };
  visit({ path: "main", template: main, parameterValues: {} });
  return scopes;
}

/** Resources the deployment creates (not `existing` references), with the template they live in. */
export function createdResources(main: ArmTemplate): PlacedResource[] {
  return allScopes(main).flatMap((scope) =>
    resourcesOf(scope.template)
      .filter((resource) => resource.existing !== true && resource.type !== "Microsoft.Resources/deployments")
      .map((resource) => ({ resource, scope })),
  );
}

export function ofType(resources: readonly PlacedResource[], type: string): PlacedResource[] {
  return resources.filter((placed) => String(placed.resource.type).toLowerCase() === type.toLowerCase());
}

const REFERENCE = /^\[(parameters|variables)\('([^']+)'\)((?:\.[A-Za-z0-9_]+)*)\]$/;

/**
 * Follows `[parameters('p')]` into the value the parent deployment passed, and `[variables('v').a]`
 * into the template's variables, until a literal (or an expression it cannot follow) remains.
 */
export function resolveValue(value: Json | undefined, scope: TemplateScope): Json | undefined {
  if (typeof value !== "string") return value;
  const match = REFERENCE.exec(value);
  if (!match) return value;
  const [, kind, name = "", path = ""] = match;
  let found: Json | undefined;
  let foundIn: TemplateScope | undefined = scope;
  if (kind === "variables") {
    found = scope.template.variables?.[name];
  } else if (name in scope.parameterValues) {
    found = scope.parameterValues[name];
    foundIn = scope.parent;
  } else {
    found = scope.template.parameters?.[name]?.defaultValue;
  }
  for (const key of path.split(".").filter(Boolean)) {
    found = isObject(found) ? found[key] : undefined;
  }
  return foundIn === undefined ? found : resolveValue(found, foundIn);
}

/** The value at a property path of a resource, resolved. */
export function propertyAt(placed: PlacedResource, path: string): Json | undefined {
  let value: Json | undefined = placed.resource;
  for (const key of path.split(".")) {
    value = resolveValue(value, placed.scope);
    if (Array.isArray(value) && /^\d+$/.test(key)) value = value[Number(key)];
    else value = isObject(value) ? value[key] : undefined;
  }
  return resolveValue(value, placed.scope);
}

/** Every string in a JSON tree, with the path it sits at. */
export function* stringsIn(value: Json | undefined, path = "$"): Generator<[string, string]> {
  if (typeof value === "string") yield [path, value];
  else if (Array.isArray(value))
    for (const [i, item] of value.entries()) yield* stringsIn(item, `${path}[${i}]`);
  else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      yield [`${path}.${key}#key`, key];
      yield* stringsIn(item, `${path}.${key}`);
    }
  }
}
