import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestCertificates as createTestCertificates, type TestCertificates } from "./testCertificates.js";

/**
 * Real OCI tooling for fidelity tests: images built with `umoci` in a temp OCI layout (no network),
 * and `skopeo` wrappers that push to / pull from a registry over HTTPS trusting a given CA, with
 * Basic credentials as `skopeo --creds` sends them.
 */

const TOOL_TIMEOUT_MS = 60_000;

export function requireTool(tool: "skopeo" | "umoci"): string {
  const found = spawnSync("sh", ["-c", `command -v "${tool}"`], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error(
      `${tool} is not installed; run scripts/setup.sh to install the test tools (skopeo, umoci)`,
    );
  }
  return path;
}

export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `${tool} ${redactArgs(args).join(" ")} failed (exit ${exitCode}): ${stderr.trim() || stdout.trim()}`,
    );
  }
}

/** Credentials never reach error messages. */
function redactArgs(args: readonly string[]): string[] {
  return args.map((arg, index) =>
    index > 0 && /^--(?:src-|dest-)?creds$/.test(args[index - 1] ?? "") ? "***" : arg,
  );
}

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

export function runTool(
  tool: "skopeo" | "umoci",
  args: readonly string[],
  cwd?: string,
): Promise<ToolResult> {
  const binary = requireTool(tool);
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      [...args],
      { cwd, timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ stdout, stderr });
        const code = typeof error.code === "number" ? error.code : null;
        reject(new ToolError(tool, args, code, stdout, stderr));
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// OCI layouts built with umoci

export interface OciDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
  readonly platform?: { architecture: string; os: string; variant?: string };
}

export interface OciLayoutImage {
  /** Directory of the OCI image layout. */
  readonly layout: string;
  readonly tag: string;
  /** `oci:<layout>:<tag>`, the skopeo transport reference. */
  readonly reference: string;
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  /** The manifest bytes as stored in the layout. */
  readonly manifestBytes: Buffer;
}

export interface BuildImageOptions {
  readonly layout: string;
  readonly tag: string;
  /** Files to put in the image: path inside the image → content. One layer per call. */
  readonly files: Readonly<Record<string, string>>;
  readonly architecture?: string;
  readonly os?: string;
}

/** Creates a temp directory for layouts; remove it with the returned `dispose`. */
export async function makeWorkDir(
  prefix = "acr-steward-oci-",
): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Builds a small single-platform image with umoci: an empty base, one layer holding `files`, and a
 * config with the given platform. The layout is created when missing; several tags can share it.
 */
export async function buildImage(options: BuildImageOptions): Promise<OciLayoutImage> {
  const { layout, tag } = options;
  const staging = await mkdtemp(join(tmpdir(), "acr-steward-oci-files-"));
  try {
    if (!(await exists(join(layout, "oci-layout")))) await runTool("umoci", ["init", "--layout", layout]);
    const scratch = `${tag}-scratch`;
    await runTool("umoci", ["new", "--image", `${layout}:${scratch}`]);
    for (const [path, content] of Object.entries(options.files)) {
      const local = join(staging, createHash("sha256").update(path).digest("hex"));
      await writeFile(local, content);
      await runTool("umoci", ["insert", "--rootless", "--image", `${layout}:${scratch}`, local, path]);
    }
    await runTool("umoci", [
      "config",
      "--image",
      `${layout}:${scratch}`,
      "--tag",
      tag,
      "--architecture",
      options.architecture ?? "amd64",
      "--os",
      options.os ?? "linux",
      "--config.cmd",
      Object.keys(options.files)[0] ?? "/",
    ]);
    await runTool("umoci", ["rm", "--image", `${layout}:${scratch}`]);
    return await readLayoutImage(layout, tag);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Adds an OCI image index over existing manifests of the layout and tags it, so that
 * `skopeo copy --all` pushes a real multi-platform image.
 */
export async function addImageIndex(
  layout: string,
  tag: string,
  children: readonly { image: OciLayoutImage; architecture: string; os: string }[],
): Promise<OciLayoutImage> {
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: children.map(({ image, architecture, os }) => ({
      mediaType: image.manifestMediaType,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      platform: { architecture, os },
    })),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  await writeFile(join(layout, "blobs", "sha256", digest.slice("sha256:".length)), bytes);
  const layoutIndex = await readLayoutIndex(layout);
  layoutIndex.manifests = layoutIndex.manifests.filter(
    (entry) => entry.annotations?.["org.opencontainers.image.ref.name"] !== tag,
  );
  layoutIndex.manifests.push({
    mediaType: index.mediaType,
    digest,
    size: bytes.length,
    annotations: { "org.opencontainers.image.ref.name": tag },
  });
  await writeFile(join(layout, "index.json"), JSON.stringify(layoutIndex));
  return readLayoutImage(layout, tag);
}

interface LayoutIndex {
  schemaVersion: number;
  manifests: OciDescriptor[];
}

async function readLayoutIndex(layout: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as LayoutIndex;
}

/** Reads what a tag of an OCI layout points at. */
export async function readLayoutImage(layout: string, tag: string): Promise<OciLayoutImage> {
  const index = await readLayoutIndex(layout);
  const entry = index.manifests.find(
    (descriptor) => descriptor.annotations?.["org.opencontainers.image.ref.name"] === tag,
  );
  if (entry === undefined) throw new Error(`tag ${tag} not found in OCI layout ${layout}`);
  const manifestBytes = await readBlob(layout, entry.digest);
  return {
    layout,
    tag,
    reference: `oci:${layout}:${tag}`,
    manifestDigest: entry.digest,
    manifestMediaType: entry.mediaType,
    manifestBytes,
  };
}

export function readBlob(layout: string, digest: string): Promise<Buffer> {
  const [algorithm, hex] = digest.split(":");
  if (algorithm === undefined || hex === undefined) throw new Error(`not a digest: ${digest}`);
  return readFile(join(layout, "blobs", algorithm, hex));
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// skopeo

/** How skopeo reaches one registry. */
export interface RegistryAccess {
  /** host:port */
  readonly host: string;
  /** Directory with the CA as `ca.crt` (see makeCertDir); omit for plain HTTP. */
  readonly certDir?: string;
  readonly credentials?: { readonly username: string; readonly password: string };
}

/** skopeo trusts the `*.crt` files of a cert dir: write the CA there as `ca.crt`. */
export async function makeCertDir(caCertPem: string, parent?: string): Promise<string> {
  const dir =
    parent === undefined ? await mkdtemp(join(tmpdir(), "acr-steward-certs-")) : join(parent, "certs");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "ca.crt"), caCertPem);
  return dir;
}

function accessFlags(access: RegistryAccess | undefined, side: "src" | "dest" | "plain"): string[] {
  if (access === undefined) return [];
  const prefix = side === "plain" ? "" : `${side}-`;
  const flags: string[] = [];
  if (access.certDir === undefined) flags.push(`--${prefix}tls-verify=false`);
  else flags.push(`--${prefix}cert-dir`, access.certDir);
  if (access.credentials !== undefined) {
    flags.push(`--${prefix}creds`, `${access.credentials.username}:${access.credentials.password}`);
  } else {
    flags.push(`--${prefix}no-creds`);
  }
  return flags;
}

export function dockerReference(access: RegistryAccess, repositoryAndRef: string): string {
  return `docker://${access.host}/${repositoryAndRef}`;
}

/** Global flags that keep skopeo away from the machine's registries.conf and policy. */
function isolation(): string[] {
  return ["--insecure-policy"];
}

export async function skopeoCopy(
  source: string,
  destination: string,
  options: {
    src?: RegistryAccess;
    dest?: RegistryAccess;
    all?: boolean;
    preserveDigests?: boolean;
    /** Convert the manifest on the way: `v2s2` is Docker image manifest v2 schema 2. */
    format?: "oci" | "v2s2";
  } = {},
): Promise<ToolResult> {
  return runTool("skopeo", [
    ...isolation(),
    "copy",
    "--quiet",
    ...(options.all === true ? ["--all"] : []),
    ...(options.format !== undefined ? ["--format", options.format] : []),
    ...(options.preserveDigests === true ? ["--preserve-digests"] : []),
    ...accessFlags(options.src, "src"),
    ...accessFlags(options.dest, "dest"),
    source,
    destination,
  ]);
}

export interface SkopeoInspection {
  readonly Name: string;
  readonly Digest: string;
  readonly RepoTags: string[];
  readonly Architecture: string;
  readonly Os: string;
  readonly Layers: string[];
}

export async function skopeoInspect(reference: string, access: RegistryAccess): Promise<SkopeoInspection> {
  const { stdout } = await runTool("skopeo", [
    ...isolation(),
    "inspect",
    ...accessFlags(access, "plain"),
    reference,
  ]);
  return JSON.parse(stdout) as SkopeoInspection;
}

/** The manifest bytes exactly as the registry serves them. */
export async function skopeoInspectRaw(reference: string, access: RegistryAccess): Promise<Buffer> {
  const { stdout } = await runTool("skopeo", [
    ...isolation(),
    "inspect",
    "--raw",
    ...accessFlags(access, "plain"),
    reference,
  ]);
  return Buffer.from(stdout, "utf8");
}

export async function skopeoListTags(repositoryReference: string, access: RegistryAccess): Promise<string[]> {
  const { stdout } = await runTool("skopeo", [
    ...isolation(),
    "list-tags",
    ...accessFlags(access, "plain"),
    repositoryReference,
  ]);
  return (JSON.parse(stdout) as { Tags: string[] }).Tags;
}

export async function skopeoDelete(reference: string, access: RegistryAccess): Promise<void> {
  await runTool("skopeo", [...isolation(), "delete", ...accessFlags(access, "plain"), reference]);
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

// ---------------------------------------------------------------------------------------------
// TLS for registries under test

export type { TestCertificates } from "./testCertificates.js";

/** A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it (see testCertificates.ts). */
export async function makeTestCertificates(commonName?: string): Promise<TestCertificates> {
  return createTestCertificates(commonName);
}
