// Unpinning (admin API): the certificate of an issuer with a given serial is no longer refreshed
// ahead of time: its SHA-1 CertID's owner and its issuer's CRL owners let it go. By serial (DELETE
// /admin/certificates/<issuer id>/<serial>), or as the one a renewal replaces (?replaces=).

import { err, ok, type Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import { relaysOcsp } from "../issuers/revocation.ts";
import { log } from "../log.ts";
import { fromHex, toHex } from "../ocsp/bytes.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import { certIdFor, certIdKey } from "../ocsp/request.ts";
import type { Relay } from "../relay.ts";
import type { UnpinnedJson } from "../wire.ts";
import { serialAsEncoded } from "./check.ts";

/** Unpins the certificate of `issuer` with serial `hex` (its SHA-1 CertID's owner, its CRLs). */
export async function unpin(
  relay: Relay,
  issuer: IssuerRecord,
  issuerCert: CertificateFacts,
  hex: string,
): Promise<Result<UnpinnedJson>> {
  const typed = serialBytes(hex);
  if (!typed) return err(badSerial);
  // The serial as written, then as DER encodes it: a pin keys the certificate's own bytes, which
  // for a non-conforming CA may be neither minimal nor positive.
  const forms = [typed, serialAsEncoded(typed)];
  for (const serialNumber of toHex(forms[0]!) === toHex(forms[1]!) ? [typed] : forms) {
    const certId = await certIdFor(issuerCert, { serialNumber }, "SHA-1");
    const key = relaysOcsp(issuer) ? certIdKey(certId) : undefined;
    if (await relay.unpin(issuer, key, toHex(serialNumber))) {
      log("certificate.unpinned", { issuer: issuer.id, serial: toHex(serialNumber) });
      return ok({ issuer: issuer.id, serial: toHex(serialNumber), unpinned: true });
    }
  }
  return ok({ issuer: issuer.id, serial: toHex(serialAsEncoded(typed)), unpinned: false });
}

const badSerial = {
  kind: "malformed" as const,
  title: "bad serial",
  detail: "give the serial number in hex, e.g. 03a1f2",
};

function serialBytes(hex: string): Uint8Array | undefined {
  const typed = fromHex(hex.replace(/:/g, ""));
  return typed && typed.length > 0 && typed.length <= 40 ? typed : undefined;
}

/**
 * `?replaces=[<issuer id>/]<serial hex>`: the certificate a single renewed leaf replaces. Refused:
 * a bad serial, several leaves, or the renewal's own serial (it would unpin itself).
 */
export function replacedBy(
  given: string | undefined,
  leaves: readonly CertificateFacts[],
): Result<{ issuer: string | undefined; serial: string } | undefined> {
  if (given === undefined) return ok(undefined);
  const [issuer, serial] = given.includes("/") ? given.split("/", 2) : [undefined, given];
  const typed = serialBytes(serial ?? "");
  if (!typed) return err(badSerial);
  if (leaves.length !== 1)
    return err({
      kind: "malformed",
      title: "bad query",
      detail: "replaces= goes with one renewed leaf",
    });
  if (toHex(serialAsEncoded(typed)) === toHex(serialAsEncoded(leaves[0]!.serialNumber)))
    return err({
      kind: "malformed",
      title: "bad query",
      detail: "replaces= names the renewed certificate itself",
    });
  return ok({ issuer: issuer || undefined, serial: toHex(typed) });
}
