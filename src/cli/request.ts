// `ocsp-relay request`: build an OCSP request for a certificate (DER, or the GET URL for a base URL).

import { writeFileSync } from "node:fs";
import { toBase64 } from "../ocsp/bytes.ts";
import { certIdFor, encodeRequest } from "../ocsp/request.ts";
import { parse, readCertificate, required } from "./args.ts";

export async function requestCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    issuer: { type: "string" },
    cert: { type: "string" },
    sha256: { type: "boolean", default: false },
    out: { type: "string" },
    url: { type: "string" },
  });
  const issuer = readCertificate(required(values.issuer, "--issuer"), "issuer");
  const cert = readCertificate(required(values.cert, "--cert"), "certificate");
  const der = encodeRequest(await certIdFor(issuer, cert, values.sha256 ? "SHA-256" : "SHA-1"));
  if (values.url) {
    // RFC 6960 Appendix A.1: {url}/{url-encoding of base-64 encoding of the DER encoding}.
    process.stdout.write(
      `${values.url.replace(/\/+$/, "")}/${encodeURIComponent(toBase64(der))}\n`,
    );
  } else if (values.out) {
    writeFileSync(values.out, der);
  } else {
    process.stdout.write(der);
  }
  return 0;
}
