// Processes, PKI and peers on loopback for the e2e tests (test/e2e/) and the benchmark
// (scripts/bench/), one concern per file. Nothing here imports vitest: the e2e tests' per-file
// teardown hooks live in test/e2e/files.ts.

export * from "./processes.ts"; // childEnv, run/runOk, startProcess, killGroup, the exit guard
export * from "./loopback.ts"; // LOOPBACK, freePort, waitFor/waitForPort/waitForHttp
export * from "./cleanup.ts"; // Cleanup, tempDir, removeDir
export * from "./pki.ts"; // makePki, issueLeaf, makeCrl, listSerials, the `openssl ca` index format
export * from "./ca.ts"; // the recording OCSP CA, openssl's responder as a server
export * from "./crl-server.ts"; // the CA's CRL over HTTP, counting fetches
export * from "./relay.ts"; // snapshotWorker, wranglerEnv, startRelay (wrangler dev), registerIssuer
export * from "./clients.ts"; // openssl ocsp / s_client, curl, the project's CLI
export * from "./nginx.ts"; // nginx: stapling through the relay, a given server block, a whole conf
export * from "./haproxy.ts";
export * from "./apache.ts"; // Apache httpd around a `config apache` snippet
export * from "./lighttpd.ts"; // lighttpd around a `config lighttpd` snippet
export * from "./h2o.ts"; // h2o around a `config h2o` snippet
export * from "./webhook.ts"; // the alert webhook receiver
export * from "./chromium.ts"; // headless Chromium through playwright-core
export * from "./staple.ts"; // HAProxy certificate files, a handshake's staple, systemd ExecStart
