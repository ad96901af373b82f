import type { z } from "zod";
import { ValidationError } from "../errors/index.js";

/**
 * Queue message bodies are JSON, base64-encoded: the Functions queue trigger decodes base64 by default
 * (host.json `extensions.queues.messageEncoding: "base64"`), and Event Grid's queue delivery writes
 * base64 too, so every queue in this app speaks the same encoding.
 */

export function encodeQueueMessage<S extends z.ZodType>(schema: S, message: z.input<S>): string {
  const parsed = schema.safeParse(message);
  if (!parsed.success) {
    throw new ValidationError(`refusing to send an invalid queue message: ${describeIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return Buffer.from(JSON.stringify(parsed.data), "utf8").toString("base64");
}

/**
 * Decodes what a consumer received: an object (the Functions runtime already parsed the JSON), JSON
 * text, or base64 JSON text (read straight from the queue, e.g. by the scan worker).
 * @throws ValidationError naming the message's bad fields; such a message can never succeed.
 */
export function decodeQueueMessage<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const value = typeof body === "string" ? parseText(body) : body;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(`invalid queue message: ${describeIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

function parseText(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) return parseJson(trimmed);
  return parseJson(Buffer.from(trimmed, "base64").toString("utf8"));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError("invalid queue message: neither JSON nor base64-encoded JSON", {
      cause: error,
    });
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(message)"}: ${issue.message}`)
    .join("; ");
}
