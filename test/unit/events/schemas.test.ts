import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  AcrChartDeletedCloudEventSchema,
  AcrChartDeletedEventGridEventSchema,
  AcrChartPushedCloudEventSchema,
  AcrChartPushedEventGridEventSchema,
  AcrImageDeletedCloudEventSchema,
  AcrImageDeletedEventGridEventSchema,
  AcrImagePushedCloudEventSchema,
  AcrImagePushedEventGridEventSchema,
  AcrWebhookBodySchema,
  acrEventTypeInfo,
  SubscriptionValidationEventSchema,
  SubscriptionValidationResponseSchema,
} from "../../../shared/events/index.js";
import { fixtureJson } from "./fixtureFiles.js";

const typedSchemas: Record<string, { eventGrid: z.ZodType; cloudEvent: z.ZodType }> = {
  push: { eventGrid: AcrImagePushedEventGridEventSchema, cloudEvent: AcrImagePushedCloudEventSchema },
  delete: { eventGrid: AcrImageDeletedEventGridEventSchema, cloudEvent: AcrImageDeletedCloudEventSchema },
  chartPush: { eventGrid: AcrChartPushedEventGridEventSchema, cloudEvent: AcrChartPushedCloudEventSchema },
  chartDelete: {
    eventGrid: AcrChartDeletedEventGridEventSchema,
    cloudEvent: AcrChartDeletedCloudEventSchema,
  },
};

describe("the exported schemas accept the fixtures directly", () => {
  it.each([
    "eventgrid_image_pushed.json",
    "eventgrid_image_deleted.json",
    "eventgrid/image_pushed_v1.json",
    "eventgrid/image_deleted_v1.json",
    "eventgrid/image_pushed_actor_source_offset.json",
    "eventgrid/chart_pushed.json",
    "eventgrid/chart_deleted_broken_event_time.json",
  ])("%s with its typed Event Grid schema, and not with the others", (file) => {
    const event = fixtureJson(file) as { eventType: string };
    const kind = acrEventTypeInfo(event.eventType)?.kind ?? "";
    for (const [schemaKind, schemas] of Object.entries(typedSchemas)) {
      expect(schemas.eventGrid.safeParse(event).success).toBe(schemaKind === kind);
    }
  });

  it.each([
    "cloudevents/image_pushed.json",
    "cloudevents/image_deleted.json",
    "cloudevents/chart_pushed.json",
    "cloudevents/chart_deleted.json",
  ])("%s with its typed CloudEvents schema", (file) => {
    const event = fixtureJson(file) as { type: string };
    const kind = acrEventTypeInfo(event.type)?.kind ?? "";
    expect(typedSchemas[kind]?.cloudEvent.safeParse(event).success).toBe(true);
  });

  it.each([
    ["webhook/push.json", "push"],
    ["webhook/delete.json", "delete"],
    ["webhook/chart_push.json", "chart_push"],
    ["webhook/chart_delete.json", "chart_delete"],
    ["webhook/quarantine.json", "quarantine"],
  ])("%s with the webhook body schema (action %s)", (file, action) => {
    const parsed = AcrWebhookBodySchema.safeParse(fixtureJson(file));
    expect(parsed.success).toBe(true);
    expect(parsed.data?.action).toBe(action);
  });

  it("the webhook body schema refuses an unknown action", () => {
    const body = { ...(fixtureJson("webhook/push.json") as object), action: "retag" };
    expect(AcrWebhookBodySchema.safeParse(body).success).toBe(false);
  });

  it("the subscription validation event and its response", () => {
    const [event] = fixtureJson("validation/subscription_validation.json") as unknown[];
    const parsed = SubscriptionValidationEventSchema.parse(event);
    const response = { validationResponse: parsed.data.validationCode };
    expect(SubscriptionValidationResponseSchema.parse(response)).toEqual({
      validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
    });
    expect(SubscriptionValidationResponseSchema.safeParse({ ...response, extra: 1 }).success).toBe(false);
  });
});
