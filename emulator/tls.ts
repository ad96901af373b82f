import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import forge from "node-forge";

/**
 * The emulator's TLS material: a private CA and a server certificate it signs, valid for 127.0.0.1,
 * localhost and ::1. Keys come from node:crypto (fast); node-forge only assembles and signs the X.509
 * certificates. With a directory, an existing CA is reused so that clients trust it across restarts.
 */

export interface TlsMaterial {
  readonly caCertPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
  /** Absolute path of the CA certificate clients should trust. */
  readonly caCertFile: string;
  /** Removes the files when they live in a temporary directory the emulator created. */
  dispose(): Promise<void>;
}

const FILES = {
  caCert: "ca.pem",
  caKey: "ca-key.pem",
  serverCert: "server.pem",
  serverKey: "server-key.pem",
} as const;

const SERVER_NAMES = { dns: ["localhost"], ips: ["127.0.0.1", "::1"] } as const;

interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

function newRsaKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** forge reads PKCS#1 RSA keys; node:crypto converts. */
function forgePrivateKey(pem: string): forge.pki.rsa.PrivateKey {
  const pkcs1 = createPrivateKey(pem).export({ type: "pkcs1", format: "pem" }).toString();
  return forge.pki.privateKeyFromPem(pkcs1);
}

function serialNumber(): string {
  // Positive 16-byte serial (leading nibble kept below 8).
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}

function createCa(): { certPem: string; keyPem: string } {
  const keys = newRsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serialNumber();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 5 * 365 * 24 * 60 * 60 * 1000);
  const subject = [
    { name: "commonName", value: "acr-steward emulator local CA" },
    { name: "organizationName", value: "acr-steward" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forgePrivateKey(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

function createServerCert(caCertPem: string, caKeyPem: string): { certPem: string; keyPem: string } {
  const keys = newRsaKeyPair();
  const caCert = forge.pki.certificateFromPem(caCertPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = serialNumber();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  // Under 398 days: the longest validity TLS clients accept for server certificates.
  cert.validity.notAfter = new Date(now + 390 * 24 * 60 * 60 * 1000);
  cert.setSubject([{ name: "commonName", value: "localhost" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        ...SERVER_NAMES.dns.map((value) => ({ type: 2, value })),
        ...SERVER_NAMES.ips.map((ip) => ({ type: 7, ip })),
      ],
    },
  ]);
  cert.sign(forgePrivateKey(caKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** True when the server certificate was issued by this CA, is current for a while, and covers our names. */
function serverCertStillGood(serverCertPem: string, caCertPem: string): boolean {
  try {
    const server = new X509Certificate(serverCertPem);
    const ca = new X509Certificate(caCertPem);
    if (!server.verify(ca.publicKey)) return false;
    if (new Date(server.validTo).getTime() < Date.now() + 24 * 60 * 60 * 1000) return false;
    const san = server.subjectAltName ?? "";
    return san.includes("DNS:localhost") && san.includes("IP Address:127.0.0.1");
  } catch {
    return false;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

// Key generation costs ~100 ms; tests start many emulators in one process, so reuse what we made.
let generatedOnce:
  | { caCertPem: string; caKeyPem: string; serverCertPem: string; serverKeyPem: string }
  | undefined;

/**
 * Loads or creates the CA and server certificate. Without `tlsDir`, writes them to a fresh temporary
 * directory (removed by `dispose()`).
 */
export async function prepareTls(tlsDir: string | undefined): Promise<TlsMaterial> {
  if (tlsDir === undefined) {
    generatedOnce ??= (() => {
      const ca = createCa();
      const server = createServerCert(ca.certPem, ca.keyPem);
      return {
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        serverCertPem: server.certPem,
        serverKeyPem: server.keyPem,
      };
    })();
    const dir = await mkdtemp(join(tmpdir(), "acr-steward-emulator-tls-"));
    const material = generatedOnce;
    const caCertFile = join(dir, FILES.caCert);
    await writeFile(caCertFile, material.caCertPem, { mode: 0o644 });
    return {
      caCertPem: material.caCertPem,
      serverCertPem: material.serverCertPem,
      serverKeyPem: material.serverKeyPem,
      caCertFile,
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  }

  const dir = resolve(tlsDir);
  await mkdir(dir, { recursive: true });
  let caCertPem = await readIfExists(join(dir, FILES.caCert));
  let caKeyPem = await readIfExists(join(dir, FILES.caKey));
  if ((caCertPem === undefined) !== (caKeyPem === undefined)) {
    throw new Error(`--tls-dir ${dir}: ${FILES.caCert} and ${FILES.caKey} must both exist or both be absent`);
  }
  if (caCertPem === undefined || caKeyPem === undefined) {
    const ca = createCa();
    caCertPem = ca.certPem;
    caKeyPem = ca.keyPem;
    await writeFile(join(dir, FILES.caKey), caKeyPem, { mode: 0o600 });
    await writeFile(join(dir, FILES.caCert), caCertPem, { mode: 0o644 });
  }
  let serverCertPem = await readIfExists(join(dir, FILES.serverCert));
  let serverKeyPem = await readIfExists(join(dir, FILES.serverKey));
  if (
    serverCertPem === undefined ||
    serverKeyPem === undefined ||
    !serverCertStillGood(serverCertPem, caCertPem)
  ) {
    const server = createServerCert(caCertPem, caKeyPem);
    serverCertPem = server.certPem;
    serverKeyPem = server.keyPem;
    await writeFile(join(dir, FILES.serverKey), serverKeyPem, { mode: 0o600 });
    await writeFile(join(dir, FILES.serverCert), serverCertPem, { mode: 0o644 });
  }
  return {
    caCertPem,
    serverCertPem,
    serverKeyPem,
    caCertFile: join(dir, FILES.caCert),
    dispose: async () => {},
  };
}
