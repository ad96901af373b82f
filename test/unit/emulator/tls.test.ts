import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareTls } from "../../../emulator/tls.js";

describe("emulator TLS material", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("creates a CA and a server certificate for 127.0.0.1, localhost and ::1, and reuses them from --tls-dir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "emulator-tls-test-"));
    dirs.push(dir);
    const first = await prepareTls(dir);
    expect(first.caCertFile).toBe(join(dir, "ca.pem"));
    const ca = new X509Certificate(first.caCertPem);
    const server = new X509Certificate(first.serverCertPem);
    expect(ca.ca).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toContain("DNS:localhost");
    expect(server.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(server.subjectAltName).toContain("IP Address:0:0:0:0:0:0:0:1");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(((await stat(join(dir, "ca-key.pem"))).mode & 0o077) === 0).toBe(true);

    const second = await prepareTls(dir);
    expect(second.caCertPem).toBe(first.caCertPem);
    expect(second.serverCertPem).toBe(first.serverCertPem);
    expect(await readFile(second.caCertFile, "utf8")).toBe(first.caCertPem);
  });

  it("refuses a directory holding only half of the CA", async () => {
    const dir = await mkdtemp(join(tmpdir(), "emulator-tls-test-"));
    dirs.push(dir);
    const made = await prepareTls(dir);
    await rm(join(dir, "ca-key.pem"));
    await expect(prepareTls(dir)).rejects.toThrow(/ca.pem and ca-key.pem/);
    expect(made.caCertPem).toContain("BEGIN CERTIFICATE");
  });

  it("without a directory, writes the CA to a temporary file that dispose() removes", async () => {
    const tls = await prepareTls(undefined);
    expect(await readFile(tls.caCertFile, "utf8")).toBe(tls.caCertPem);
    await tls.dispose();
    await expect(stat(tls.caCertFile)).rejects.toThrow();
  });
});
