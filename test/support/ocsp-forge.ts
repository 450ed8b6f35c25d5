// OCSP answers (RFC 6960 §4.2.1) signed by the fixture CA crl-ca itself (a CA-signed answer,
// §4.2.2.2; responderID byKey), for any CertID a test's fake CA is asked about: a responder for
// leaves made with crl-forge.ts forgeLeaf, as many as a test needs. sha256WithRSAEncryption.

import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  id_pkix_ocsp_basic,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  SingleResponse,
  KeyHash,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { digest, fromBase64, u8 } from "../../src/ocsp/bytes.ts";
import { decodeRequest, type CertId } from "../../src/ocsp/request.ts";
import { crlCaKey } from "./crl-forge.ts";
import { certificate, fixture } from "./files.ts";

const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A successful OCSPResponse saying `good` for `certId`, valid from `thisUpdate` to `nextUpdate`. */
export async function forgeOcspGood(
  certId: CertId,
  thisUpdate: Date,
  nextUpdate: Date,
): Promise<Uint8Array> {
  const ca = certificate(fixture("crls/pki/crl-ca.pem"));
  const keyHash = await digest("SHA-1", ca.subjectPublicKey);
  const single = new SingleResponse({
    certID: new CertID({
      hashAlgorithm: new AlgorithmIdentifier({
        algorithm: certId.hashAlgorithm,
        parameters: new Uint8Array([0x05, 0x00]).buffer,
      }),
      issuerNameHash: new OctetString(certId.issuerNameHash),
      issuerKeyHash: new OctetString(certId.issuerKeyHash),
      serialNumber: Uint8Array.from(certId.serialNumber).buffer,
    }),
    certStatus: new CertStatus({ good: null }),
    thisUpdate,
    nextUpdate,
  });
  const tbsResponseData = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(keyHash) }),
    producedAt: thisUpdate,
    responses: [single],
  });
  const signature = await crypto.subtle.sign(
    RSA_SHA256,
    await crlCaKey(),
    AsnConvert.serialize(tbsResponseData),
  );
  const basic = new BasicOCSPResponse({
    tbsResponseData,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: SHA256_WITH_RSA, parameters: null }),
    signature,
  });
  return u8(
    AsnConvert.serialize(
      new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({
          responseType: id_pkix_ocsp_basic,
          response: new OctetString(AsnConvert.serialize(basic)),
        }),
      }),
    ),
  );
}

/** The CertID an OCSP request (GET path under `responder`, or POST body) asks about. */
export function askedCertId(
  call: { url: string; body: Uint8Array | undefined },
  responder: string,
): CertId {
  const der = call.body ?? fromBase64(decodeURIComponent(call.url.slice(responder.length)));
  const request = der && decodeRequest(der);
  if (!request?.ok) throw new Error(`the relay sent an unreadable OCSP request to ${call.url}`);
  return request.value.certIds[0]!;
}
