// `ocsp-relay config apache|lighttpd|h2o`: snippets for the servers beyond nginx, HAProxy and
// Caddy, each valid as printed and tested with the real server (test/e2e/servers.e2e.test.ts).
// Apache's mod_ssl has a responder override (SSLStaplingForceURL) and asks the relay itself;
// lighttpd only staples a file, which `ocsp-relay staple` keeps; h2o runs a command to refresh its
// staple, and `ocsp-relay fetch-ocsp-response` (src/cli/h2o.ts) is that command, asking the relay.
// A certificate (--cert) without an OCSP responder gets stapling off, with the reason
// (RFC 5280 §4.2.1.13: its revocation is published by CRL).

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import {
  fleetKey,
  ocspBase,
  parse,
  parseHostPort,
  readCertificates,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { keyEnvLoad, keyEnvSteps } from "./config-nginx.ts";
import { leafOf } from "./pki.ts";

export const OTHER_SERVERS = ["apache", "lighttpd", "h2o"] as const;
export type OtherServer = (typeof OTHER_SERVERS)[number];

const DEFAULTS = {
  cert: "/etc/ssl/certs/site-fullchain.pem",
  key: "/etc/ssl/private/site.key",
  serverName: "example.com",
  h2oCmd: "/etc/h2o/ocsp-relay-fetch-ocsp-response",
};

/** Characters a path or name may carry unquoted in these configurations and in sh. */
const SAFE = /^[A-Za-z0-9._/~:@+=,[\]-]+$/;

/**
 * The server type among `config`'s arguments when it is one of OTHER_SERVERS (every option of
 * `config` takes a value, so the first word that is not an option or an option's value).
 */
export function otherServer(args: string[]): OtherServer | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith("-")) {
      if (!arg.includes("=")) i++;
      continue;
    }
    return (OTHER_SERVERS as readonly string[]).includes(arg) ? (arg as OtherServer) : undefined;
  }
  return undefined;
}

export async function configOtherServer(server: OtherServer, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    "server-name": { type: "string" },
    listen: { type: "string" },
    "fleet-key": { type: "string" },
    "stapling-file": { type: "string" },
    "update-cmd": { type: "string" },
  });
  if (positionals.length !== 1)
    throw new UsageError(`give one server type: ocsp-relay config ${server} --relay URL ...`);
  if (values["stapling-file"] !== undefined && server !== "lighttpd")
    throw new UsageError("--stapling-file is for config lighttpd (and nginx)");
  if (values["update-cmd"] !== undefined && server !== "h2o")
    throw new UsageError("--update-cmd is for config h2o");
  const admin = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  const relay = ocspBase(admin, key);
  if (server === "apache" && !relay.startsWith("http://"))
    throw new UsageError(
      `mod_ssl's OCSP client (SSLStaplingForceURL) speaks only http://, and --relay is ${relay}. ` +
        "Serve the relay over plain http as well (OCSP answers are signed: RFC 6960 Appendix A.1) and pass that URL.",
    );
  const flags = ["cert", "key", "server-name", "listen", "stapling-file", "update-cmd"] as const;
  for (const flag of flags) {
    const v = values[flag];
    if (v !== undefined && !SAFE.test(v))
      throw new UsageError(
        `--${flag} "${v}" has characters that would need quoting; use a plain path or name`,
      );
  }
  const given = (flag: "cert" | "key", fallback: string) => {
    if (values[flag]) return values[flag];
    say(`note: no --${flag}: the snippet uses the placeholder ${fallback}; replace it`);
    return fallback;
  };
  const cert = given("cert", DEFAULTS.cert);
  const tlsKey = given("key", DEFAULTS.key);
  const serverName = values["server-name"] ?? DEFAULTS.serverName;
  if (!values["server-name"])
    say(`note: no --server-name: the snippet uses ${serverName}; replace it`);
  const listen = parseListen(values.listen);
  const leaf = leafIn(values.cert);
  const noOcsp = leaf && leaf.ocspUrls.length === 0 ? noOcspReason(leaf) : undefined;
  if (noOcsp) say(`note: ${values.cert}: ${noOcsp.join(" ")} The snippet turns stapling off.`);
  const common = { relay, admin, cert, key: tlsKey, serverName, listen, noOcsp, leaf };
  const text =
    server === "apache"
      ? apache(common)
      : server === "lighttpd"
        ? lighttpd({ ...common, fleetKey: key, file: values["stapling-file"] ?? `${cert}.ocsp` })
        : h2o({ ...common, fleetKey: key, cmd: values["update-cmd"] ?? DEFAULTS.h2oCmd });
  process.stdout.write(text);
  return 0;
}

interface Common {
  /** Where OCSP requests go (under /k/<key> with a fleet key). */
  relay: string;
  /** The relay's base URL, for the admin commands. */
  admin: string;
  cert: string;
  key: string;
  serverName: string;
  listen: Listen;
  /** Why the certificate cannot be stapled, when it names no OCSP responder. */
  noOcsp: string[] | undefined;
  leaf: CertificateFacts | undefined;
}

interface Listen {
  /** The address, when --listen names one. */
  host: string | undefined;
  port: number;
}

/** `--listen` as PORT, ADDR:PORT or [V6]:PORT (default port 443, every address). */
function parseListen(value: string | undefined): Listen {
  if (value === undefined) return { host: undefined, port: 443 };
  if (/^\d{1,5}$/.test(value) && Number(value) > 0 && Number(value) < 65_536)
    return { host: undefined, port: Number(value) };
  const hostPort = parseHostPort(value);
  if (!hostPort) throw new UsageError(`--listen ${value}: give PORT, ADDR:PORT or [ADDR]:PORT`);
  return hostPort;
}

const hostPort = (l: Listen, any: string) =>
  `${l.host === undefined ? any : l.host.includes(":") ? `[${l.host}]` : l.host}:${l.port}`;

const comment = (lines: string[], indent = "") => lines.map((l) => `${indent}# ${l}`).join("\n");

function mustStapleWarning(o: Common, indent = ""): string {
  return o.noOcsp && o.leaf?.mustStaple
    ? `${comment(
        [
          "WARNING: the certificate is Must-Staple (TLS Feature status_request) but can never carry a",
          "staple: clients that enforce Must-Staple refuse the site. Replace the certificate.",
        ],
        indent,
      )}\n`
    : "";
}

const registerStep = (o: Common) =>
  `npx ocsp-relay register --relay ${o.admin} --token "$ADMIN_TOKEN" ${o.cert}`;

function apache(o: Common): string {
  const check = `npx ocsp-relay check ${o.serverName}:${o.listen.port}`;
  const head = `# Apache httpd: ${o.noOcsp ? "no OCSP stapling for this certificate" : "OCSP stapling through ocsp-relay"} (ocsp-relay config apache).
# A site file, e.g. /etc/apache2/sites-available/site-ssl.conf, then:
#   a2enmod ssl socache_shmcb && a2ensite site-ssl && apachectl configtest && systemctl reload apache2
# ${o.listen.port === 443 ? "Debian's ports.conf has Listen 443 once mod_ssl is on." : `Apache must listen there too: "Listen ${hostPort(o.listen, "*").replace(/^\*:/, "")}" (/etc/apache2/ports.conf).`}
# ${o.cert}: the leaf, then its intermediates (mod_ssl finds the issuer there);`;
  if (o.noOcsp)
    return `${head}
#
${comment(o.noOcsp)}
# Left on, mod_ssl logs "no OCSP responder URL" (or asks a relay that has no OCSP answer to give).
# The relay can still tell you whether the certificate is revoked (it fetches and verifies the CRL):
#   ${registerStep(o)}
#   ${check} --relay ${o.admin}
${mustStapleWarning(o)}
<VirtualHost ${hostPort(o.listen, "*")}>
    ServerName ${o.serverName}
    SSLEngine on
    SSLCertificateFile    "${o.cert}"
    SSLCertificateKeyFile "${o.key}"
    SSLUseStapling off

    # ... your DocumentRoot and locations ...
</VirtualHost>
`;
  return `${head}
# the issuer registered with the relay:
#   ${registerStep(o)}
# Then: ${check}
#
# mod_ssl asks SSLStaplingForceURL (the relay), never the responder named in the certificate: a
# POST from the first handshake that finds no answer in its cache. That handshake waits for the
# relay (at most SSLStaplingResponderTimeout) and carries the staple, so a restarted Apache staples
# from its first handshake; later ones are served from the cache.

# Server-wide (not allowed inside <VirtualHost>): the answers, shared by all children; a relative
# path is under DefaultRuntimeDir (Debian: /var/run/apache2).
SSLStaplingCache "shmcb:ocsp-relay-stapling(128000)"

<VirtualHost ${hostPort(o.listen, "*")}>
    ServerName ${o.serverName}
    SSLEngine on
    SSLCertificateFile    "${o.cert}"
    SSLCertificateKeyFile "${o.key}"

    SSLUseStapling on
    # Every OCSP request of this host goes to the relay (mod_ssl's OCSP client speaks http only).
    SSLStaplingForceURL ${o.relay}/
    # The relay answers from its cache: a handshake never waits longer than this for it.
    SSLStaplingResponderTimeout 5
    # Staple only "good" answers: no error response (tryLater) and no invented one when the relay
    # cannot be reached; a client enforcing Must-Staple refuses both. (A revoked certificate is
    # then served without a staple, and the relay's answer says revoked to whoever asks it.)
    SSLStaplingReturnResponderErrors off
    SSLStaplingFakeTryLater off
    # A good answer is reused this long (the default); after a failure, ask again within a
    # minute rather than the default 10.
    SSLStaplingStandardCacheTimeout 3600
    SSLStaplingErrorCacheTimeout 60

    # ... your DocumentRoot and locations ...
</VirtualHost>
`;
}

function lighttpd(o: Common & { fleetKey: string | undefined; file: string }): string {
  const staple = `${keyEnvLoad(o.fleetKey)}npx ocsp-relay staple --relay ${o.admin} --out ${o.file} --min-validity 1h ${o.cert}`;
  const check = `npx ocsp-relay check ${o.serverName}:${o.listen.port}`;
  const head = `# lighttpd: ${o.noOcsp ? "no OCSP stapling for this certificate" : "OCSP stapling from a file that ocsp-relay keeps fresh"} (ocsp-relay config lighttpd).
# e.g. /etc/lighttpd/conf-available/50-ocsp-relay.conf, then: lighty-enable-mod ocsp-relay &&
# lighttpd -tt -f /etc/lighttpd/lighttpd.conf && service lighttpd force-reload
# (Debian's 10-ssl.conf loads mod_openssl too: both together are fine.)
# ${o.cert}: the leaf, then its intermediates; ${o.key}: its key.`;
  const socket = `$SERVER["socket"] == "${hostPort(o.listen, "0.0.0.0")}" {
    ssl.engine        = "enable"
    ssl.pemfile       = "${o.cert}"
    ssl.privkey       = "${o.key}"`;
  if (o.noOcsp)
    return `${head}
#
${comment(o.noOcsp)}
# So: no ssl.stapling-file and no "ocsp-relay staple" job for it (the relay never invents an answer).
# The relay can still tell you whether the certificate is revoked (it fetches and verifies the CRL):
#   ${registerStep(o)}
#   ${check} --relay ${o.admin}
${mustStapleWarning(o)}
server.modules += ( "mod_openssl" )

${socket}
}
`;
  return `${head}
#
# lighttpd has no OCSP client: it staples the DER answer in ssl.stapling-file. It reads the file
# at start, then, when the file is newer, in the last minutes before the answer it holds reaches
# its nextUpdate (checked every minute or so), and on every reload. A missing or expired file:
# no staple. So:
# 1. The issuer registered with the relay:
#      ${registerStep(o)}
${keyEnvSteps(o.fleetKey, "    ")}# 2. The first answer, before lighttpd starts (it then staples from its first handshake):
#      ${staple}
# 3. Fresh answers: the same command hourly, from a systemd timer or cron (README, "Staple files");
#    "staple" writes nothing unless the answer is valid for --min-validity more, so a failed run
#    leaves the file lighttpd reads as it was.
# 4. Check: ${check}

server.modules += ( "mod_openssl" )

${socket}
    ssl.stapling-file = "${o.file}"
}
`;
}

/** `value` as one sh word. */
const shWord = (value: string) =>
  SAFE.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;

function h2o(o: Common & { fleetKey: string | undefined; cmd: string }): string {
  // The node running this and the ocsp-relay entry beside these sources: run `config h2o` on the
  // server, from the checkout h2o's command should use.
  const node = shWord(process.execPath);
  const cli = shWord(fileURLToPath(new URL("../../bin/ocsp-relay.js", import.meta.url)));
  const host = o.listen.host === undefined ? "" : `\n      host: ${JSON.stringify(o.listen.host)}`;
  const head = `# h2o: ${o.noOcsp ? "no OCSP stapling for this certificate" : "OCSP stapling through ocsp-relay"} (ocsp-relay config h2o). h2o.conf (YAML).`;
  const hosts = (ssl: string) => `hosts:
  "${o.serverName}:${o.listen.port}":
    listen:${host}
      port: ${o.listen.port}
      ssl:
        certificate-file: ${JSON.stringify(o.cert)}   # the leaf, then its intermediates
        key-file: ${JSON.stringify(o.key)}
${ssl}
    paths:
      "/":
        file.dir: /var/www/html   # ... your handlers ...
`;
  if (o.noOcsp)
    return `${head}
#
${comment(o.noOcsp)}
# ocsp-update-interval 0 turns h2o's OCSP updater off (left on, its command fails for this certificate).
# The relay can still tell you whether the certificate is revoked (it fetches and verifies the CRL):
#   ${registerStep(o)}
#   npx ocsp-relay check ${o.serverName}:${o.listen.port} --relay ${o.admin}
${mustStapleWarning(o)}
${hosts("        ocsp-update-interval: 0")}`;
  const exportKey = o.fleetKey ? `\n#      export OCSP_RELAY_KEY=${o.fleetKey}` : "";
  return `${head}
#
# h2o refreshes its staple itself: at start, then every ocsp-update-interval seconds, it runs
# ocsp-update-cmd with the certificate file as its only argument (no shell, no other arguments)
# and staples the DER the command prints. Its default command asks the responder named in the
# certificate; this one asks the relay ("ocsp-relay fetch-ocsp-response" verifies the answer and
# prints it, or exits 75 when it has no valid answer now: h2o keeps the staple it has, and after
# ocsp-max-failures such runs in a row staples nothing until a run succeeds).
# h2o does not wait for the first run: handshakes in the first seconds after a start carry no staple.
# 1. The command: a script that runs the CLI (the node and ocsp-relay that printed this snippet;
#    print it on the server, or change those two paths), run by h2o's user: owned by root, in
#    h2o's group (the group of its "user:" setting), readable by none else${o.fleetKey ? " (it holds the fleet key)" : ""}:
#      umask 027
#      cat > ${o.cmd} <<'EOF'
#      #!/bin/sh${exportKey}
#      exec ${node} ${cli} fetch-ocsp-response --relay ${shWord(o.admin)} "$1"
#      EOF
#      chmod 750 ${o.cmd}
#    then: chgrp <h2o's group> ${o.cmd}
# 2. The issuer registered with the relay:
#      ${registerStep(o)}
# 3. h2o -t -c /etc/h2o/h2o.conf runs the command once ("stapling works for file"); restart h2o;
#    then: npx ocsp-relay check ${o.serverName}:${o.listen.port}

${hosts(`        ocsp-update-cmd: ${JSON.stringify(o.cmd)}
        ocsp-update-interval: 3600   # seconds (h2o's default: 4 h); the relay answers from its cache
        ocsp-max-failures: 3`)}`;
}

/** The leaf of --cert, when the file can be read here (the snippet may name paths of another host). */
function leafIn(path: string | undefined): CertificateFacts | undefined {
  if (!path || !existsSync(path)) return undefined;
  try {
    return leafOf(readCertificates(path, "--cert"));
  } catch {
    return undefined;
  }
}

/** Why a certificate cannot be stapled, as comment lines (without the "# "). */
function noOcspReason(leaf: CertificateFacts): string[] {
  return [
    "The certificate names no OCSP responder (no OCSP URL in its AIA extension), so it cannot be stapled:",
    leaf.crlUrls[0]
      ? `its CA publishes revocation by CRL at ${leaf.crlUrls.join(", ")}, which clients fetch themselves.`
      : "it names no CRL distribution point either: it says nowhere how to check whether it is revoked.",
  ];
}
