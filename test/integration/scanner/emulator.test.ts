import path from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RegistryManifestPlanner } from "../../../scanner/manifestPlan.js";
import { AuthenticationError, ConfigurationError, UnavailableError } from "../../../shared/errors/index.js";
import { openRegistry, type Registry } from "../../../shared/registry/index.js";
import { AcrRefreshTokenMinter, jwtExpiryMs } from "../../../shared/scanning/credentials/index.js";
import { platformChildren } from "../../../shared/scanning/platforms.js";
import type { ScanCredentialsProvider } from "../../../shared/scanning/ports.js";
import { ACR_REFRESH_TOKEN_USERNAME, type RegistryCredentials } from "../../../shared/scanning/scanRunner.js";
import { fetchEmulator, startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { readFakeTrivyCalls } from "../../helpers/fake-trivy/index.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { createHarness, type Harness, storedText } from "./harness.js";

/**
 * The worker's registry side against our ACR emulator over HTTPS: minting refresh tokens through
 * /oauth2/exchange with the worker's (fake) identity, and scanning a multi-platform index per child.
 */

let env: TestEmulator;
let connectionString: string;

beforeAll(async () => {
  env = await startTestEmulator({ seed: { kind: "demo" } });
  connectionString = await getTestStorage();
}, 60_000);
afterAll(async () => {
  await env?.close();
  await stopTestStorage();
});

function minter(overrides: Partial<ConstructorParameters<typeof AcrRefreshTokenMinter>[0]> = {}) {
  return new AcrRefreshTokenMinter({
    credential: env.credential,
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    ...overrides,
  });
}

/** Remembers what it handed out, so tests can look for the token everywhere it must not be. */
class RecordingProvider implements ScanCredentialsProvider {
  readonly issued: RegistryCredentials[] = [];
  constructor(private readonly inner: ScanCredentialsProvider) {}
  async credentialsFor(registry: string, repository: string): Promise<RegistryCredentials | null> {
    const credentials = await this.inner.credentialsFor(registry, repository);
    if (credentials !== null) this.issued.push(credentials);
    return credentials;
  }
}

describe("ACR refresh-token minter", () => {
  it("exchanges the identity's Entra token for a refresh token the registry accepts", async () => {
    const audiences: string[] = [];
    const credential: TokenCredential = {
      getToken: async (scopes): Promise<AccessToken> => {
        audiences.push(String(scopes));
        return { token: "fake-aad-token", expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const credentials = await minter({
      credential,
      audience: "https://containerregistry.azure.net",
    }).credentialsFor(env.loginServer, "team/web");
    expect(audiences).toEqual(["https://containerregistry.azure.net/.default"]);
    expect(credentials.username).toBe(ACR_REFRESH_TOKEN_USERNAME);
    expect(jwtExpiryMs(credentials.password)).toBeGreaterThan(Date.now());

    const form = new URLSearchParams({
      grant_type: "refresh_token",
      service: env.loginServer,
      scope: "repository:team/web:pull",
      refresh_token: credentials.password,
    }).toString();
    const response = await fetchEmulator(env.emulator, "POST", "/oauth2/token", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
    expect(response.status).toBe(200);
  });

  it("reuses a token until shortly before it expires", async () => {
    let calls = 0;
    const credential: TokenCredential = {
      getToken: async () => {
        calls += 1;
        return { token: "fake-aad-token", expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    let now = Date.now();
    const provider = minter({ credential, now: () => now });
    const first = await provider.credentialsFor(env.loginServer, "team/web");
    const second = await provider.credentialsFor(env.loginServer, "team/api");
    expect(second.password).toBe(first.password);
    expect(calls).toBe(1);
    now = (jwtExpiryMs(first.password) ?? now) - 60_000;
    await provider.credentialsFor(env.loginServer, "team/web");
    expect(calls).toBe(2);
  });

  it("refuses registries outside the allow-list before asking for any token", async () => {
    let calls = 0;
    const credential: TokenCredential = {
      getToken: async () => {
        calls += 1;
        return { token: "t", expiresOnTimestamp: Date.now() + 60_000 };
      },
    };
    await expect(minter({ credential }).credentialsFor("evil.example.com", "x")).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    expect(calls).toBe(0);
  });

  it("turns a failing identity into AuthenticationError and an untrusted certificate into UnavailableError", async () => {
    const failing: TokenCredential = {
      getToken: async () => {
        throw new Error("ManagedIdentityCredential: no identity endpoint");
      },
    };
    await expect(minter({ credential: failing }).credentialsFor(env.loginServer, "x")).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    const { caCertPem: _unused, ...rest } = {
      credential: env.credential,
      allowList: [env.loginServer],
      caCertPem: undefined,
    };
    await expect(new AcrRefreshTokenMinter(rest).credentialsFor(env.loginServer, "x")).rejects.toBeInstanceOf(
      UnavailableError,
    );
  });
});

describe("scanning an index on the emulator", () => {
  let h: Harness;
  let registry: Registry;
  beforeEach(async () => {
    h = await createHarness(connectionString);
    registry = await openRegistry({
      registry: env.loginServer,
      credentials: { kind: "token", credential: env.credential },
      allowList: [env.loginServer],
      caCertPem: env.emulator.caCert,
    });
  });
  afterEach(async () => {
    await h.close();
  });

  it("scans each platform child of the demo seed's multi-arch index with a minted token and aggregates", async () => {
    const index = await registry.inspect({ repository: "team/web", tag: "1.11.0" });
    const children = platformChildren(index.children);
    expect(children.map((child) => child.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const [amd64, arm64] = children;

    const provider = new RecordingProvider(minter());
    const record = path.join(h.cacheDir, "..", "calls.jsonl");
    await h.send({ registry: env.loginServer, repository: "team/web", digest: index.digest });
    const report = await h
      .worker(
        { allowList: [env.loginServer] },
        {
          credentials: provider,
          manifests: new RegistryManifestPlanner(async () => registry),
          trivyEnv: {
            FAKE_TRIVY_RECORD: record,
            FAKE_TRIVY_FIXTURE_BY_DIGEST: `${amd64?.digest}=alpine-39,${arm64?.digest}=debian-buster`,
          },
        },
      )
      .run();
    expect(report.outcomes.completed).toBe(1);

    const latest = await h.store.latest(index.digest);
    // alpine-39 (2 CRITICAL, 4 MEDIUM) + debian-buster (1 CRITICAL, 1 LOW), summed per finding.
    expect(latest).toMatchObject({
      status: "completed",
      findings: { CRITICAL: 3, HIGH: 0, MEDIUM: 4, LOW: 1, UNKNOWN: 0 },
      endOfLife: true,
    });
    expect(latest?.platforms.map((child) => child.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(latest?.reportBlobs.sort()).toEqual(
      [`${amd64?.digest}/${latest?.scanId}.json.gz`, `${arm64?.digest}/${latest?.scanId}.json.gz`].sort(),
    );

    const scans = (await readFakeTrivyCalls(record)).filter(
      (call) => call.command === "image" && call.argv.includes("--format"),
    );
    expect(scans.map((call) => call.argv.at(-1)).sort()).toEqual(
      [`${env.loginServer}/team/web@${amd64?.digest}`, `${env.loginServer}/team/web@${arm64?.digest}`].sort(),
    );
    for (const call of scans)
      expect(call.credentials).toMatchObject({ usernameIsAcrTokenUser: true, password: true });

    expect(provider.issued.length).toBeGreaterThan(0);
    const everything = `${await storedText(h)}\n${h.logLines.join("\n")}`;
    for (const credentials of provider.issued) expect(everything).not.toContain(credentials.password);
  });

  it("records a digest the registry does not have as skipped without running trivy", async () => {
    const record = path.join(h.cacheDir, "..", "calls.jsonl");
    const digest = `sha256:${"e".repeat(64)}`;
    await h.send({ registry: env.loginServer, repository: "team/web", digest });
    const report = await h
      .worker(
        { allowList: [env.loginServer] },
        {
          manifests: new RegistryManifestPlanner(async () => registry),
          trivyEnv: { FAKE_TRIVY_RECORD: record },
        },
      )
      .run();
    expect(report.outcomes.skipped).toBe(1);
    expect(await h.store.latest(digest)).toMatchObject({ status: "skipped" });
    const scans = (await readFakeTrivyCalls(record)).filter(
      (call) => call.command === "image" && call.argv.includes("--format"),
    );
    expect(scans).toEqual([]);
  });
});
