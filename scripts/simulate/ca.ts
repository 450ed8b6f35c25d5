// The CA the simulator's relay talks to: the test PKI's Ed25519 CA (test/fixtures/pki/ed-ca), signing
// each OCSP answer the moment it is asked (good for a serial it issued, unknown for any other, as
// a real CA answers a made-up serial; thisUpdate a minute back, nextUpdate one window later), and issuing leaf certificates (one shared key; only the serial and dates differ). It
// answers GET and POST as a responder does and counts every request it gets.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BasicOCSPResponse,
  CertStatus,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponseBytes,
  ResponseData,
  ResponderID,
  SingleResponse,
  id_pkix_ocsp_basic,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AccessDescription,
  AlgorithmIdentifier,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  Name,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ad_ocsp,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
  SubjectKeyIdentifier,
  AttributeTypeAndValue,
  RelativeDistinguishedName,
  AttributeValue,
} from "@peculiar/asn1-x509";

const FIXTURES = join(import.meta.dirname, "../../test/fixtures/pki");
const ED25519 = "1.3.101.112";
export const RESPONDER_URL = "http://ocsp.sim-ca.example/";

export interface SimCa {
  pem: string;
  /** Requests the responder got (each one a signature). */
  requests: number;
  /** The CA's clock. */
  now: () => number;
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  leaf: (serial: number, notBefore: number, notAfter: number) => Promise<string>;
  /** The GET path nginx would send for `serial`'s SHA-1 CertID (percent-escaped base64). */
  getPath: (serial: number) => Promise<string>;
}

export async function simCa(o: { windowMs: number; now: () => number }): Promise<SimCa> {
  const pem = readFileSync(join(FIXTURES, "ed-ca.pem"), "utf8");
  const der = pemBody(pem, "CERTIFICATE");
  const cert = AsnConvert.parse(der, Certificate);
  const name = cert.tbsCertificate.subject;
  const spkiKey = cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey;
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(readFileSync(join(FIXTURES, "ed-ca.key"), "utf8"), "PRIVATE KEY"),
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  const nameDer = new Uint8Array(AsnConvert.serialize(name));
  const nameHash = new Uint8Array(await crypto.subtle.digest("SHA-1", nameDer));
  const keyHash = new Uint8Array(await crypto.subtle.digest("SHA-1", spkiKey));
  const leafKey = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
  ])) as CryptoKeyPair;
  const leafSpki = AsnConvert.parse(
    (await crypto.subtle.exportKey("spki", leafKey.publicKey)) as ArrayBuffer,
    SubjectPublicKeyInfo,
  );
  const sign = async (tbs: ArrayBuffer) => crypto.subtle.sign({ name: "Ed25519" }, key, tbs);
  /** Serials issued (leaf()), as hex of their INTEGER content: only these are `good`. */
  const issued = new Set<string>();
  const hex = (b: ArrayBuffer) => Buffer.from(b).toString("hex");
  const ed25519 = () => new AlgorithmIdentifier({ algorithm: ED25519 });

  const ca: SimCa = {
    pem,
    requests: 0,
    now: o.now,
    async fetch(input, init) {
      ca.requests++;
      const request = new Request(input, init);
      const body =
        request.method === "POST"
          ? new Uint8Array(await request.arrayBuffer())
          : base64(decodeURIComponent(new URL(request.url).pathname.replace(/^\/+/, "")));
      const asked = AsnConvert.parse(body, OCSPRequest);
      const now = o.now();
      const thisUpdate = new Date(Math.floor((now - 60_000) / 1000) * 1000);
      const data = new ResponseData({
        responderID: new ResponderID({ byKey: new OctetString(keyHash) }),
        producedAt: new Date(Math.floor(now / 1000) * 1000),
        responses: asked.tbsRequest.requestList.map(
          (r) =>
            new SingleResponse({
              certID: r.reqCert,
              certStatus: new CertStatus(
                issued.has(hex(r.reqCert.serialNumber)) ? { good: null } : { unknown: null },
              ),
              thisUpdate,
              nextUpdate: new Date(thisUpdate.getTime() + o.windowMs),
            }),
        ),
      });
      const signature = await sign(AsnConvert.serialize(data));
      const basic = new BasicOCSPResponse({
        tbsResponseData: data,
        signatureAlgorithm: ed25519(),
        signature,
      });
      const response = new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({
          responseType: id_pkix_ocsp_basic,
          response: new OctetString(AsnConvert.serialize(basic)),
        }),
      });
      return new Response(AsnConvert.serialize(response), {
        headers: { "Content-Type": "application/ocsp-response" },
      });
    },
    async leaf(serial, notBefore, notAfter) {
      issued.add(hex(serialBytes(serial)));
      const tbs = new TBSCertificate({
        version: Version.v3,
        serialNumber: serialBytes(serial),
        signature: ed25519(),
        issuer: name,
        validity: new Validity({ notBefore: new Date(notBefore), notAfter: new Date(notAfter) }),
        subject: new Name([
          new RelativeDistinguishedName([
            new AttributeTypeAndValue({
              type: "2.5.4.3",
              value: new AttributeValue({ utf8String: `host-${serial}.sim.example` }),
            }),
          ]),
        ]),
        subjectPublicKeyInfo: leafSpki,
        extensions: new Extensions([
          ext(id_ce_basicConstraints, new BasicConstraints({ cA: false }), true),
          ext(
            id_pe_authorityInfoAccess,
            new AuthorityInfoAccessSyntax([
              new AccessDescription({
                accessMethod: id_ad_ocsp,
                accessLocation: new GeneralName({ uniformResourceIdentifier: RESPONDER_URL }),
              }),
            ]),
          ),
          ext(
            id_ce_authorityKeyIdentifier,
            new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(await skiOf(cert)) }),
          ),
          ext(
            id_ce_subjectKeyIdentifier,
            new SubjectKeyIdentifier(
              await crypto.subtle.digest("SHA-1", leafSpki.subjectPublicKey),
            ),
          ),
        ]),
      });
      const signatureValue = await sign(AsnConvert.serialize(tbs));
      const leaf = new Uint8Array(
        AsnConvert.serialize(
          new Certificate({ tbsCertificate: tbs, signatureAlgorithm: ed25519(), signatureValue }),
        ),
      );
      const lines =
        Buffer.from(leaf)
          .toString("base64")
          .match(/.{1,64}/g) ?? [];
      return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
    },
    async getPath(serial) {
      const { CertID, TBSRequest, Request: SingleRequest } = await import("@peculiar/asn1-ocsp");
      const req = new OCSPRequest({
        tbsRequest: new TBSRequest({
          requestList: [
            new SingleRequest({
              reqCert: new CertID({
                hashAlgorithm: new AlgorithmIdentifier({
                  algorithm: "1.3.14.3.2.26",
                  parameters: new Uint8Array([5, 0]).buffer,
                }),
                issuerNameHash: new OctetString(nameHash),
                issuerKeyHash: new OctetString(keyHash),
                serialNumber: serialBytes(serial),
              }),
            }),
          ],
        }),
      });
      return "/" + encodeURIComponent(Buffer.from(AsnConvert.serialize(req)).toString("base64"));
    },
  };
  return ca;
}

function ext(extnID: string, value: object, critical = false): Extension {
  return new Extension({
    extnID,
    critical,
    extnValue: new OctetString(AsnConvert.serialize(value)),
  });
}

async function skiOf(cert: Certificate): Promise<ArrayBuffer> {
  const e = cert.tbsCertificate.extensions?.find((x) => x.extnID === id_ce_subjectKeyIdentifier);
  if (!e) throw new Error("ed-ca has no subjectKeyIdentifier");
  return AsnConvert.parse(e.extnValue.buffer, SubjectKeyIdentifier).buffer;
}

/** A positive INTEGER's minimal content octets. */
function serialBytes(n: number): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = "00" + hex;
  return Uint8Array.from(Buffer.from(hex, "hex")).buffer;
}

function pemBody(pem: string, label: string): ArrayBuffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} block`);
  return Uint8Array.from(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")).buffer;
}

const base64 = (s: string) => Uint8Array.from(Buffer.from(s, "base64"));
