// Type only: @azure/core-auth comes with @azure/identity and the SDK; nothing of it is loaded at run time.
import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential, EnvironmentCredential, ManagedIdentityCredential } from "@azure/identity";
import { z } from "zod";
import { ConfigurationError } from "../errors/index.js";
import type { BasicCredentials } from "./tokenAuthPolicy.js";

/**
 * How acr-steward authenticates to a registry. Entra kinds go through the SDK's token exchange;
 * `basic` (ACR admin user, repository-scoped token, or any registry's login) and `anonymous` use the
 * registry token flow. Secrets stay inside the credential objects: `describeCredentials` is what logs
 * and audit records may show.
 */
export const RegistryCredentialsSchema = z.discriminatedUnion("kind", [
  /** DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI... */
  z.object({ kind: z.literal("default"), managedIdentityClientId: z.string().min(1).optional() }),
  z.object({ kind: z.literal("managed-identity"), clientId: z.string().min(1).optional() }),
  /** A service principal from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a certificate). */
  z.object({ kind: z.literal("service-principal") }),
  z.object({ kind: z.literal("basic"), username: z.string().min(1), password: z.string().min(1) }),
  z.object({ kind: z.literal("anonymous") }),
]);

export type RegistryCredentialsSpec = z.infer<typeof RegistryCredentialsSchema>;

/** A spec, or a ready TokenCredential (tests, callers that build their own). */
export type RegistryCredentials =
  | RegistryCredentialsSpec
  | { readonly kind: "token"; readonly credential: TokenCredential };

export type ResolvedCredentials =
  | { readonly kind: "entra"; readonly credential: TokenCredential; readonly description: string }
  | { readonly kind: "basic"; readonly basic: BasicCredentials; readonly description: string }
  | { readonly kind: "anonymous"; readonly description: string };

export function resolveCredentials(credentials: RegistryCredentials): ResolvedCredentials {
  switch (credentials.kind) {
    case "token":
      return { kind: "entra", credential: credentials.credential, description: "token credential" };
    case "default":
      return {
        kind: "entra",
        credential: new DefaultAzureCredential(
          credentials.managedIdentityClientId === undefined
            ? {}
            : { managedIdentityClientId: credentials.managedIdentityClientId },
        ),
        description: "DefaultAzureCredential",
      };
    case "managed-identity":
      return {
        kind: "entra",
        credential:
          credentials.clientId === undefined
            ? new ManagedIdentityCredential()
            : new ManagedIdentityCredential({ clientId: credentials.clientId }),
        description: `managed identity${credentials.clientId === undefined ? "" : ` ${credentials.clientId}`}`,
      };
    case "service-principal": {
      const missing = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"].filter((name) => !process.env[name]);
      if (
        missing.length > 0 ||
        (!process.env.AZURE_CLIENT_SECRET && !process.env.AZURE_CLIENT_CERTIFICATE_PATH)
      ) {
        throw new ConfigurationError(
          `a service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) in the environment${missing.length > 0 ? `; missing: ${missing.join(", ")}` : ""}`,
        );
      }
      return {
        kind: "entra",
        credential: new EnvironmentCredential(),
        description: `service principal ${process.env.AZURE_CLIENT_ID}`,
      };
    }
    case "basic":
      return {
        kind: "basic",
        basic: { username: credentials.username, password: credentials.password },
        description: `user ${credentials.username}`,
      };
    case "anonymous":
      return { kind: "anonymous", description: "anonymous" };
  }
}

/**
 * Stands in for the credential that `ContainerRegistryContentClient` requires when the registry token
 * flow (basic/anonymous) authenticates instead: the SDK's own exchange is never reached, because our
 * policy answers the challenges first. If it ever is, the message says why.
 */
export const registryTokenFlowCredential: TokenCredential = {
  async getToken() {
    throw new ConfigurationError(
      "the registry refused the username/password or anonymous token; check the credentials and the repository's permissions",
    );
  },
};
