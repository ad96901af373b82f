import type {
  ContainerRegistryChartDeletedEventData,
  ContainerRegistryChartPushedEventData,
  ContainerRegistryImageDeletedEventData,
  ContainerRegistryImagePushedEventData,
  SubscriptionValidationEventData,
} from "@azure/eventgrid";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  AcrChartDeletedDataSchema,
  AcrChartPushedDataSchema,
  AcrImageDeletedDataSchema,
  AcrImagePushedDataSchema,
  type SubscriptionValidationDataSchema,
} from "../../../shared/events/index.js";

/**
 * Our zod schemas are the source of truth; these checks keep them compatible with the
 * @azure/eventgrid system-event interfaces. The type-level part fails `tsc` (which covers test/)
 * if a schema starts requiring a field the SDK does not have, or types a shared field differently.
 */

/**
 * The SDK's interfaces as plain object types (interfaces lack the implicit index signature our
 * loose objects' input types carry; the fields are unchanged).
 */
type Plain<T> = { [K in keyof T]: T[K] extends object ? Plain<T[K]> : T[K] };

/** The SDK's data with `action` narrowed to the one value its event type implies. */
type SdkData<T extends { action: string }, A extends string> = Plain<Omit<T, "action">> & { action: A };

type AcceptedBy<Schema extends z.ZodType, Sdk> = Sdk extends z.input<Schema> ? true : false;

const compile: {
  imagePushed: AcceptedBy<
    typeof AcrImagePushedDataSchema,
    SdkData<ContainerRegistryImagePushedEventData, "push">
  >;
  imageDeleted: AcceptedBy<
    typeof AcrImageDeletedDataSchema,
    SdkData<ContainerRegistryImageDeletedEventData, "delete">
  >;
  chartPushed: AcceptedBy<
    typeof AcrChartPushedDataSchema,
    SdkData<ContainerRegistryChartPushedEventData, "chart_push">
  >;
  chartDeleted: AcceptedBy<
    typeof AcrChartDeletedDataSchema,
    SdkData<ContainerRegistryChartDeletedEventData, "chart_delete">
  >;
  validation: AcceptedBy<typeof SubscriptionValidationDataSchema, Plain<SubscriptionValidationEventData>>;
} = {
  imagePushed: true,
  imageDeleted: true,
  chartPushed: true,
  chartDeleted: true,
  validation: true,
};

const digest = `sha256:${"0".repeat(64)}`;

/** A fully populated value of the SDK's type, as the SDK's documentation describes the event. */
const sdkImagePushed: ContainerRegistryImagePushedEventData = {
  id: "e2a3f1c4-0000-4000-8000-000000000001",
  timestamp: "2026-03-02T09:15:27.5128843Z",
  action: "push",
  location: "westeurope",
  target: {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    size: 1578,
    digest,
    length: 1578,
    repository: "team-a/api",
    url: "https://contosoregistry.azurecr.io/v2/team-a/api/manifests/latest",
    tag: "latest",
  },
  request: {
    id: "r-1",
    addr: "10.0.0.1",
    host: "contosoregistry.azurecr.io",
    method: "PUT",
    useragent: "containerd/v1.7.13",
  },
  actor: { name: "ci" },
  source: { addr: "node:5000", instanceID: "i-1" },
  connectedRegistry: { name: "edge1" },
};

const sdkChartDeleted: ContainerRegistryChartDeletedEventData = {
  id: "e2a3f1c4-0000-4000-8000-000000000002",
  timestamp: "2026-03-03T08:42:08.3783775-07:00",
  action: "chart_delete",
  location: "westeurope",
  target: {
    mediaType: "application/vnd.acr.helm.chart",
    size: 25265,
    digest,
    repository: "helm/ingress",
    tag: "ingress-0.9.1.tgz",
    name: "ingress",
    version: "0.9.1",
  },
  connectedRegistry: { name: "edge1" },
};

describe("compatibility with @azure/eventgrid system-event types", () => {
  it("every SDK-typed payload is accepted by our schemas (checked by tsc)", () => {
    expect(Object.values(compile).every(Boolean)).toBe(true);
  });

  it("fully populated SDK-typed values parse", () => {
    expect(AcrImagePushedDataSchema.safeParse(sdkImagePushed).success).toBe(true);
    expect(AcrChartDeletedDataSchema.safeParse(sdkChartDeleted).success).toBe(true);
    expect(AcrImageDeletedDataSchema.safeParse({ ...sdkImagePushed, action: "delete" }).success).toBe(true);
    expect(AcrChartPushedDataSchema.safeParse({ ...sdkChartDeleted, action: "chart_push" }).success).toBe(
      true,
    );
  });

  it("our parsed values keep the SDK's field names and types", () => {
    const parsed = AcrImagePushedDataSchema.parse(sdkImagePushed);
    expect(parsed.target.repository).toBe(sdkImagePushed.target.repository);
    expect(parsed.request?.useragent).toBe(sdkImagePushed.request.useragent);
    expect(parsed.source?.instanceID).toBe(sdkImagePushed.source.instanceID);
    expect(parsed.connectedRegistry?.name).toBe("edge1");
    // Timestamps are normalized to UTC with nanosecond width; the SDK leaves the text as sent.
    expect(parsed.timestamp).toBe("2026-03-02T09:15:27.512884300Z");
  });
});
