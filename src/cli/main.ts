// `ocsp-relay <command>`: the command-line face of the protocol core and the relay.
// Exit codes: 0 success / may be served, 1 must not be served or the check failed, 2 usage error.

import { verifyCommand } from "./verify.ts";
import { requestCommand } from "./request.ts";
import { chainCommand } from "./chain.ts";
import { registerCommand } from "./register.ts";
import { checkCommand } from "./check.ts";
import { stapleCommand } from "./staple.ts";
import { configCommand } from "./config.ts";
import { fetchOcspResponseCommand } from "./h2o.ts";
import { unpinCommand } from "./unpin.ts";
import { pinCommand, pinsCommand } from "./pin.ts";
import { maskKey, UsageError } from "./args.ts";

const USAGE = `usage: ocsp-relay <command> [options]

commands:
  verify   --response R.der --issuer ISSUER.pem (--cert LEAF.pem | --request REQ.der)
           [--at 2026-01-01T00:00:00Z] [--json]
           Exit 0 when the response may be served for that certificate at --at (default now),
           1 when it must not, 2 for usage errors or unreadable files.
  request  --issuer I.pem --cert C.pem [--sha256] [--out REQ.der | --url BASE]
           Make an OCSP request (DER to --out or stdout), or print its GET URL under BASE.

setting up stapling (progress and advice on stderr):
  chain    <host:port | fullchain.pem> [--ca-file roots.pem] [--servername NAME] [--out bundle.pem]
           [--relay URL]
           The served (or file) chain, each certificate's subject/issuer/notAfter, the leaf's OCSP
           responder and Must-Staple flag; writes the ssl_trusted_certificate bundle
           (intermediates, then the root from --ca-file, Node's or the system's root store).
           A leaf without an OCSP responder cannot be stapled: it says so and where its CRL is;
           with --relay it also prints the leaf's CRL status from the relay, and exits 1 unless
           the CRL says good.
  register --relay URL --token T <fullchain.pem> [--responder URL] [--crl URL] [--fleet-key K]
           [--json]
           Register the leaf's issuer with the relay (POST /admin/issuers); the relay pins the leaf
           and fetches its first answer. The token may come from $OCSP_RELAY_TOKEN instead. With a
           fleet key, also asks the OCSP endpoint under /k/<key>/ as the servers will.
           A leaf without an OCSP responder cannot be stapled: the issuer is registered for CRL
           status instead (the relay learns the CRL from the leaf's CRL distribution point, or
           --crl URL) and the leaf's status in that CRL is printed. Exit 0 only when the answer
           (OCSP or CRL) says good; 1 when revoked, unknown, or the fetch or CRL failed.
  unpin    --relay URL --token T <fullchain.pem>
           Tell the relay a certificate is no longer served (replaced or retired): it is unpinned
           and refreshed from then on only while clients ask (DELETE /admin/certificates/<issuer
           id>/<serial>). Exit 0 when it was pinned, 1 when not (or the relay refused).
           To pin a renewal and retire the old one at once: POST /admin/certificates?replaces=<old
           serial> with the new leaf.
  pin      --relay URL --token T <leaves.pem ...> [--json]
           Pin many leaf certificates of registered issuers (POST /admin/certificates, in batches
           under the relay's 256 KiB cap): more than 8 are queued per issuer and fetched at the
           relay's PIN_RATE_PER_MINUTE (default 60 a minute per issuer); prints what was queued
           and when the last one is expected. Re-sending is safe. Exit 1 when a leaf's issuer is
           not registered or the relay refused.
  pins     --relay URL --token T [--issuer ID] [--json]
           How far the pin queues are (GET /admin/pins): per issuer waiting, done, failed (with
           the first failures), the rate and when the last one is expected. Exit 1 when a pin
           failed for good (queue it again with "pin" to retry).
  check    <host:port> [--servername NAME] [--ca-file roots.pem] [--relay URL] [--json]
           One handshake asking for a staple: is it there, does it verify, good/revoked/unknown,
           time to nextUpdate, Must-Staple. Exit 0 only for a valid staple saying good.
           A served leaf without an OCSP responder cannot be stapled, so no staple is expected;
           its status is what its CA's CRL says, asked of the relay with --relay (POST /check;
           the issuer registered with "register"). Exit 0 only when the relay's verified CRL says
           good; 1 when it says revoked, when the status is unknown (no verified current CRL, or
           the relay cannot answer), when --relay is not given (revocation not checked), and
           for a Must-Staple leaf, which can never be stapled. A monitoring script can alert on
           anything but 0.
  staple   --relay URL [cert.pem ...] [DIR ...] [--crt-list FILE ...] [--crt-base DIR]
           [--issuer I.pem] [--out FILE] [--min-validity 1h] [--concurrency 8] [--watch]
           [--haproxy-socket PATH] [--reload-cmd CMD] [--verbose] [--fleet-key K]
           Keep the staple file of each certificate fresh: <cert>.ocsp beside it (HAProxy's
           convention; --out names it when there is one certificate). A directory: each file
           with a leaf (the issuer after it, in <file>.issuer, or in another file there); a
           crt-list: each line's first field (relative to --crt-base, else the list's directory).
           Each answer is verified and written atomically, only when it changed; a failure never
           touches a file; a valid "revoked" answer is written. Changed answers go to HAProxy's
           runtime API (set ssl ocsp-response) and --reload-cmd runs only when a file changed.
           One summary line. Exit 0 all fresh; 1 something failed (or is revoked, or the push or
           reload failed) but every file is still valid for --min-validity; 3 a certificate's
           file is missing, unusable or expiring. --watch: keep running, waking ahead of each
           answer's refresh point (halfway to nextUpdate) with jitter; SIGTERM stops it (exit 0).
  config   nginx|haproxy|caddy --relay URL [--cert fullchain.pem] [--key key.pem]
           [--trusted chain.pem] [--server-name NAME] [--listen ADDR:PORT] [--fleet-key K]
           [--stapling-file FILE]
           Print a configuration snippet that staples through the relay (or says why it cannot).
           nginx --stapling-file: nginx staples FILE, kept fresh by "staple", from the first
           handshake after a start or reload (ssl_stapling_responder fetches lazily).
           When --cert names a certificate without an OCSP responder: nginx gets
           "ssl_stapling off;" and HAProxy no staple job, each with the reason.
  config   apache|lighttpd|h2o --relay URL [--cert fullchain.pem] [--key key.pem]
           [--server-name NAME] [--listen ADDR:PORT] [--fleet-key K]
           [--stapling-file FILE (lighttpd)] [--update-cmd PATH (h2o)]
           Apache asks the relay itself (SSLStaplingForceURL, http:// only); lighttpd staples
           --stapling-file (default <cert>.ocsp) kept by "staple"; h2o runs --update-cmd, a
           script the snippet prints, which runs fetch-ocsp-response.
  fetch-ocsp-response --relay URL <fullchain.pem> [--issuer I.pem] [--min-validity 1h]
           [--fleet-key K]
           h2o's ocsp-update-cmd: the relay's verified answer (DER) on stdout and exit 0, also
           for a valid "revoked" answer; 75 (EX_TEMPFAIL: h2o keeps its staple) when there is
           no valid answer now.

A relay closed with OCSP_KEYS answers OCSP only under /k/<key>/: give the key with --fleet-key, or
in $OCSP_RELAY_KEY (kept out of the process list). --key is the TLS private key in config.

Exit codes: 0 ok, 1 check failed / not valid / refused, 2 usage error or unreadable input
(staple also 3: a certificate has no valid staple file; fetch-ocsp-response 75: no valid answer
now, EX_TEMPFAIL).
`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  verify: verifyCommand,
  request: requestCommand,
  chain: chainCommand,
  register: registerCommand,
  check: checkCommand,
  staple: stapleCommand,
  config: configCommand,
  "fetch-ocsp-response": fetchOcspResponseCommand,
  unpin: unpinCommand,
  pin: pinCommand,
  pins: pinsCommand,
};

const OPERATOR_COMMANDS = new Set([
  "chain",
  "register",
  "check",
  "staple",
  "config",
  "fetch-ocsp-response",
  "unpin",
  "pin",
  "pins",
]);

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ocsp-relay: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      // The operator commands also point at the usage text; verify and request print as before.
      const hint = OPERATOR_COMMANDS.has(name) ? " (ocsp-relay help lists every option)" : "";
      process.stderr.write(`ocsp-relay ${name}: ${maskKey(e.message)}${hint}\n`);
      return 2;
    }
    throw e;
  }
}
