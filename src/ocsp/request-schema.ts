// The OCSPRequest ASN.1 schema (RFC 6960 §4.1.1). @peculiar/asn1-ocsp 2.6 declares
// singleRequestExtensions without its [0] tag, so any request carrying one (e.g. a service locator)
// fails to decode; these classes are the same schema with that tag, reusing the library's
// CertID, Signature, GeneralName and Extension types.

import { AsnProp, AsnPropTypes } from "@peculiar/asn1-schema";
import { CertID, Signature } from "@peculiar/asn1-ocsp";
import { Extension, GeneralName } from "@peculiar/asn1-x509";

/**
 * ```asn1
 * Request ::= SEQUENCE {
 *   reqCert                     CertID,
 *   singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
 * ```
 */
export class SingleRequest {
  reqCert = new CertID();
  singleRequestExtensions?: Extension[];
}
AsnProp({ type: CertID })(SingleRequest.prototype, "reqCert");
AsnProp({ type: Extension, context: 0, repeated: "sequence", optional: true })(
  SingleRequest.prototype,
  "singleRequestExtensions",
);

/**
 * ```asn1
 * TBSRequest ::= SEQUENCE {
 *   version             [0] EXPLICIT Version DEFAULT v1,
 *   requestorName       [1] EXPLICIT GeneralName OPTIONAL,
 *   requestList             SEQUENCE OF Request,
 *   requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
 * ```
 */
export class TbsRequest {
  version = 0;
  requestorName?: GeneralName;
  requestList: SingleRequest[] = [];
  requestExtensions?: Extension[];
}
AsnProp({ type: AsnPropTypes.Integer, context: 0, defaultValue: 0 })(
  TbsRequest.prototype,
  "version",
);
AsnProp({ type: GeneralName, context: 1, optional: true })(TbsRequest.prototype, "requestorName");
AsnProp({ type: SingleRequest, repeated: "sequence" })(TbsRequest.prototype, "requestList");
AsnProp({ type: Extension, context: 2, repeated: "sequence", optional: true })(
  TbsRequest.prototype,
  "requestExtensions",
);

/**
 * ```asn1
 * OCSPRequest ::= SEQUENCE {
 *   tbsRequest                  TBSRequest,
 *   optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
 * ```
 */
export class OcspRequest {
  tbsRequest = new TbsRequest();
  optionalSignature?: Signature;
}
AsnProp({ type: TbsRequest })(OcspRequest.prototype, "tbsRequest");
AsnProp({ type: Signature, context: 0, optional: true })(
  OcspRequest.prototype,
  "optionalSignature",
);
