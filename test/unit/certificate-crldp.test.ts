// CRL distribution points as parseCertificate reads them (RFC 5280 §4.2.1.13), over the fixtures of
// scripts/fixtures/crldp.sh, the seed's DigiCert chain and the OCSP fixture PKI.

import { describe, expect, it } from "vitest";
import { certificate, fixture, fixturePaths } from "../support/files.ts";

const CRL_URL = "http://127.0.0.1:8889/crldp-ca.crl";
const LDAP_URL =
  "ldap://127.0.0.1:8389/cn=ocsp-relay%20crldp%20CA?certificateRevocationList;binary";

describe("CertificateFacts.crlUrls", () => {
  it.each([
    ["crldp/leaf-crl.pem", [CRL_URL, LDAP_URL], []],
    ["crldp/leaf-both.pem", [CRL_URL], ["http://127.0.0.1:8888/"]],
    ["crldp/leaf-none.pem", [], []],
    // ftp and a dirName in the same fullName are left out, the scheme is matched in any case, and
    // a point named relative to its CRL issuer gives no URL.
    ["crldp/leaf-crl-odd.pem", ["HTTPS://127.0.0.1:8890/crldp-ca.crl"], []],
    ["crldp/ca.pem", [], []],
    ["crldp/root.pem", [], []],
    ["seed/site.pem", [], ["http://ocsp.digicert.com"]],
    [
      "seed/intermediate.pem",
      ["http://crl3.digicert.com/DigiCertGlobalRootCA.crl"],
      ["http://ocsp.digicert.com"],
    ],
  ])("%s: CRLs %j, OCSP %j", (path, crlUrls, ocspUrls) => {
    const cert = certificate(fixture(path));
    expect(cert.crlUrls).toEqual(crlUrls);
    expect(cert.ocspUrls).toEqual(ocspUrls);
  });

  it("is empty for every certificate of the OCSP fixture PKI (none carries a CRLDP)", () => {
    const pems = fixturePaths().filter((p) => p.startsWith("pki/") && p.endsWith(".pem"));
    expect(pems.length).toBeGreaterThan(10);
    for (const path of pems) expect(certificate(fixture(path)).crlUrls, path).toEqual([]);
  });
});
