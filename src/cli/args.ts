// Argument parsing and file reading shared by the CLI commands.

import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseCertificateFile, type CertificateFacts } from "../ocsp/certificate.ts";

/** A mistake in how the command was called, or a file that cannot be read: exit code 2. */
export class UsageError extends Error {}

export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

export function readBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

export function readCertificate(path: string, what: string): CertificateFacts {
  const cert = parseCertificateFile(readBytes(path, what));
  if (!cert.ok) throw new UsageError(`${what} ${path} is not a certificate: ${cert.error.detail}`);
  return cert.value;
}

export function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== "string" || value === "") throw new UsageError(`${flag} is required`);
  return value;
}
