import { createRequire } from "node:module";

/**
 * What the Functions host would be told. `@azure/functions` registers functions through the
 * host-provided module `@azure/functions-core`, which it requires on the first `app.*` call; standing
 * in for that module (before any function file loads) captures each registration's metadata, so
 * triggers, queue names and connection names are checked without the host.
 */

export interface Binding {
  readonly type: string;
  readonly direction: string;
  readonly queueName?: string;
  readonly connection?: string;
  readonly authLevel?: string;
  readonly methods?: readonly string[];
  readonly route?: string;
  readonly schedule?: string;
}

export interface Registration {
  readonly name: string;
  readonly bindings: Readonly<Record<string, Binding>>;
}

export interface CapturedRegistrations {
  readonly all: readonly Registration[];
  /** The one trigger binding of a registered function; throws when it is missing or not alone. */
  trigger(name: string): Binding;
}

type ModuleLoad = (request: string, parent: unknown, isMain: boolean) => unknown;

const captured: Registration[] = [];
let installed = false;

function installCoreStub(): void {
  if (installed) return;
  installed = true;
  const stub = {
    version: "stub",
    hostVersion: "4.99.0",
    setProgrammingModel() {},
    registerFunction(metadata: Registration) {
      captured.push(metadata);
      return { dispose() {} };
    },
    registerHook() {
      return { dispose() {} };
    },
    getProgrammingModel() {
      return undefined;
    },
  };
  const Module = createRequire(import.meta.url)("node:module") as { _load: ModuleLoad };
  const load = Module._load;
  Module._load = function loadWithCoreStub(this: unknown, request, parent, isMain) {
    if (request === "@azure/functions-core") return stub;
    return load.call(this, request, parent, isMain);
  };
}

/**
 * Loads function modules with the stand-in installed and returns what they registered. Call it from
 * `beforeAll`, before anything else imports `@azure/functions` in the test file's process.
 */
export async function captureRegistrations(load: () => Promise<unknown>): Promise<CapturedRegistrations> {
  installCoreStub();
  await load();
  return {
    all: captured,
    trigger(name) {
      const registration = captured.find((candidate) => candidate.name === name);
      if (!registration) throw new Error(`${name} was not registered (got ${captured.map((r) => r.name)})`);
      const triggers = Object.values(registration.bindings).filter((binding) =>
        binding.type.endsWith("Trigger"),
      );
      if (triggers.length !== 1)
        throw new Error(`${name} has ${triggers.length} trigger bindings, expected 1`);
      return triggers[0] as Binding;
    },
  };
}
