// What the hot path's URL memory (src/sources/urls.ts) really costs in the heap, against what it
// counts: N certificates of one issuer, each asked for once with the GET nginx sends, decoded by
// the routed path's own code (decodeGetPath, certIdKey) and remembered as the relay does. Prints
// the heap after gc per entry next to ENTRY_OVERHEAD + CERT_OVERHEAD + the URL, one JSON line.
//
//   node --expose-gc --import tsx scripts/hostile/urls-heap.ts [--entries 10000]

import { toBase64 } from "../../src/ocsp/bytes.ts";
import { certIdKey, decodeGetPath, encodeRequest, type CertId } from "../../src/ocsp/request.ts";
import {
  CERT_OVERHEAD,
  ENTRY_OVERHEAD,
  RememberedUrls,
  URL_LIMITS,
} from "../../src/sources/urls.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc --import tsx");

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const entries = Math.min(arg("--entries", 10_000), URL_LIMITS.maxEntries);

// One issuer record and certificate, shared by every lookup as the registry's copy is.
const issuer = { id: "0123456789abcdef", subject: "CN=Test CA" };
const issuerCert = { subjectText: "CN=Test CA" };
const base: Omit<CertId, "serialNumber"> = {
  hashAlgorithm: "1.3.14.3.2.26",
  hashName: "SHA-1",
  issuerNameHash: new Uint8Array(20).fill(0xaa),
  issuerKeyHash: new Uint8Array(20).fill(0xbb),
};
// The URLs exist before the measurement: only what the map keeps is counted.
const urls = Array.from({ length: entries }, (_, i) => {
  const serial = new Uint8Array(16);
  new DataView(serial.buffer).setUint32(12, i + 1);
  serial[0] = 0x10;
  const der = encodeRequest({ ...base, serialNumber: serial });
  return `https://relay.example.net/${encodeURIComponent(toBase64(der))}`;
});

const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const map = new RememberedUrls<{ key: string; certId: CertId; issuer: object; issuerCert: object }>(
  { ...URL_LIMITS, maxBytes: Infinity },
);
const before = heap();
for (const url of urls) {
  const decoded = decodeGetPath(new URL(url).pathname);
  if (!decoded.ok) throw new Error(decoded.error.detail);
  const certId = decoded.value.certIds[0]!;
  map.remember(url, { key: certIdKey(certId), certId, issuer, issuerCert });
}
const after = heap();
const perEntry = (after - before) / entries;
const urlChars = urls[0]!.length;
console.log(
  JSON.stringify({
    entries,
    urlChars,
    heapBytesPerEntry: Math.round(perEntry),
    countedBytesPerEntry: urlChars + ENTRY_OVERHEAD + CERT_OVERHEAD,
    countedCoversHeap: urlChars + ENTRY_OVERHEAD + CERT_OVERHEAD >= perEntry,
    fullMapHeapMiB: Number(
      (
        (perEntry * URL_LIMITS.maxBytes) /
        (urlChars + ENTRY_OVERHEAD + CERT_OVERHEAD) /
        2 ** 20
      ).toFixed(2),
    ),
  }),
);
