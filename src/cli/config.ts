// `ocsp-relay config nginx|haproxy|caddy`: a configuration snippet that staples through the relay,
// valid as printed (everything that is not configuration is a comment), with the paths given.
// What each server can and cannot do is said plainly: only nginx has a responder override
// (ssl_stapling_responder); HAProxy staples from files; Caddy staples by itself from the AIA URL.
// A certificate (--cert) that names no OCSP responder cannot be stapled at all: the snippet turns
// stapling off and says why (its revocation is published by CRL, RFC 5280 §4.2.1.13).

import { existsSync } from "node:fs";
import { fleetKey, ocspBase, parse, readCertificates, relayUrl, say, UsageError } from "./args.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import { leafOf } from "./pki.ts";
import { KEY_ENV_FILE, keyEnvLoad, keyEnvSteps, nginx, nginxStaplingFile } from "./config-nginx.ts";
import { configOtherServer, otherServer } from "./config-servers.ts";

const DEFAULTS = {
  cert: "/etc/ssl/certs/site-fullchain.pem",
  key: "/etc/ssl/private/site.key",
  trusted: "/etc/ssl/certs/site-chain.pem",
  serverName: "example.com",
  haproxyCert: "/etc/haproxy/certs/site.pem",
};

/** Characters a path or name may carry unquoted in nginx, HAProxy and Caddy configurations. */
const SAFE = /^[A-Za-z0-9._/~:@+=,*[\]-]+$/;

export async function configCommand(args: string[]): Promise<number> {
  const other = otherServer(args); // apache, lighttpd, h2o: src/cli/config-servers.ts
  if (other) return configOtherServer(other, args);
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    trusted: { type: "string" },
    "server-name": { type: "string" },
    listen: { type: "string" },
    "admin-socket": { type: "string" },
    "fleet-key": { type: "string" },
    "stapling-file": { type: "string" },
  });
  const server = positionals[0];
  if (positionals.length !== 1 || !["nginx", "haproxy", "caddy"].includes(server!))
    throw new UsageError(
      "give one server type: ocsp-relay config nginx|haproxy|caddy|apache|lighttpd|h2o --relay URL",
    );
  const base = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  // Every OCSP request the snippet makes goes under the fleet key; admin commands use the base URL.
  const relay = ocspBase(base, key);
  const staplingFile = values["stapling-file"];
  if (staplingFile !== undefined && server !== "nginx")
    throw new UsageError(
      "--stapling-file is for nginx (HAProxy reads <crt>.ocsp beside the certificate)",
    );
  if (server === "nginx" && !staplingFile && !relay.startsWith("http://"))
    throw new UsageError(
      `nginx's ssl_stapling_responder takes only http:// URLs, and --relay is ${relay}. ` +
        "Serve the relay over plain http as well (OCSP answers are signed, so OCSP runs over http: RFC 6960 Appendix A.1), " +
        "e.g. on a hostname without a forced http-to-https redirect, and pass that URL.",
    );
  for (const flag of [
    "cert",
    "key",
    "trusted",
    "server-name",
    "listen",
    "admin-socket",
    "stapling-file",
  ] as const) {
    const v = values[flag];
    if (v !== undefined && !SAFE.test(v))
      throw new UsageError(
        `--${flag} "${v}" has characters that would need quoting; use a plain path or name`,
      );
  }
  const given = (flag: "cert" | "key" | "trusted", fallback: string) => {
    if (values[flag]) return values[flag];
    say(`note: no --${flag}: the snippet uses the placeholder ${fallback}; replace it`);
    return fallback;
  };
  // The leaf in --cert, when the file is readable here: does it name an OCSP responder at all?
  const leaf = leafIn(values.cert);
  const noOcsp = leaf && leaf.ocspUrls.length === 0 ? noOcspReason(leaf) : undefined;
  if (noOcsp && server !== "caddy")
    say(`note: ${values.cert}: ${noOcsp.join(" ")} The snippet turns stapling off.`);
  const serverName = values["server-name"] ?? DEFAULTS.serverName;
  if (!values["server-name"] && server !== "haproxy")
    say(`note: no --server-name: the snippet uses ${serverName}; replace it`);

  let text: string;
  switch (server) {
    case "nginx":
      text = noOcsp
        ? nginxWithoutStapling({
            admin: base,
            cert: given("cert", DEFAULTS.cert),
            key: given("key", DEFAULTS.key),
            serverName,
            listen: values.listen ?? "443",
            reason: noOcsp,
            mustStaple: leaf!.mustStaple,
          })
        : staplingFile
          ? nginxStaplingFile({
              relay,
              fleetKey: key,
              admin: base,
              cert: given("cert", DEFAULTS.cert),
              key: given("key", DEFAULTS.key),
              serverName,
              listen: values.listen ?? "443",
              staplingFile,
            })
          : nginx({
              relay,
              admin: base,
              cert: given("cert", DEFAULTS.cert),
              key: given("key", DEFAULTS.key),
              trusted: given("trusted", DEFAULTS.trusted),
              serverName,
              listen: values.listen ?? "443",
            });
      break;
    case "haproxy":
      if (noOcsp) {
        text = haproxyWithoutStapling({
          admin: base,
          cert: given("cert", DEFAULTS.haproxyCert),
          key: values.key,
          listen: values.listen ?? ":443",
          reason: noOcsp,
          mustStaple: leaf!.mustStaple,
        });
        break;
      }
      text = haproxy({
        admin: base,
        fleetKey: key,
        cert: given("cert", DEFAULTS.haproxyCert),
        key: values.key,
        listen: values.listen ?? ":443",
        socket: values["admin-socket"] ?? "/run/haproxy/admin.sock",
      });
      break;
    default:
      text = caddy({
        relay,
        cert: given("cert", DEFAULTS.cert),
        key: given("key", DEFAULTS.key),
        serverName,
        listen: values.listen,
        aiaUrls: leaf?.ocspUrls ?? [],
        noOcsp,
      });
  }
  process.stdout.write(text);
  return 0;
}

/** Why a certificate cannot be stapled, as comment lines (without the "# "). */
function noOcspReason(leaf: CertificateFacts): string[] {
  const crl = leaf.crlUrls[0];
  return [
    "The certificate names no OCSP responder (no OCSP URL in its AIA extension), so it cannot be stapled:",
    crl
      ? `its CA publishes revocation by CRL at ${leaf.crlUrls.join(", ")}, which clients fetch themselves.`
      : "it names no CRL distribution point either: it says nowhere how to check whether it is revoked.",
  ];
}

const comment = (lines: string[], indent = "") => lines.map((l) => `${indent}# ${l}`).join("\n");

function mustStapleWarning(mustStaple: boolean, indent = ""): string {
  return mustStaple
    ? `${comment(
        [
          "WARNING: the certificate is Must-Staple (TLS Feature status_request) but can never carry a",
          "staple: clients that enforce Must-Staple refuse the site. Replace the certificate.",
        ],
        indent,
      )}\n`
    : "";
}

function nginxWithoutStapling(o: {
  admin: string;
  cert: string;
  key: string;
  serverName: string;
  listen: string;
  reason: string[];
  mustStaple: boolean;
}): string {
  return `# nginx: no OCSP stapling for this certificate (ocsp-relay config nginx). Goes in the http { } block.
${comment(o.reason)}
# Left on, nginx logs '"ssl_stapling" ignored, no OCSP responder URL in the certificate' and
# staples nothing; ssl_stapling_responder, ssl_stapling_verify and ssl_trusted_certificate are not needed.
# The relay can still tell you whether the certificate is revoked (it fetches and verifies the CRL):
#   npx ocsp-relay register --relay ${o.admin} --token "$ADMIN_TOKEN" ${o.cert}
#   npx ocsp-relay check ${o.serverName}:${o.listen.replace(/^.*:/, "")} --relay ${o.admin}
${mustStapleWarning(o.mustStaple)}server {
    listen ${o.listen} ssl;
    server_name ${o.serverName};

    ssl_certificate         ${o.cert};
    ssl_certificate_key     ${o.key};

    ssl_stapling            off;  # no OCSP responder in the certificate: nothing to staple

    # ... your locations ...
}
`;
}

function haproxyWithoutStapling(o: {
  admin: string;
  cert: string;
  key: string | undefined;
  listen: string;
  reason: string[];
  mustStaple: boolean;
}): string {
  const keyNote = haproxyKeyNote(o.cert, o.key);
  return `# HAProxy: no OCSP stapling for this certificate (ocsp-relay config haproxy).
#
${comment(o.reason)}
# So: no staple job. No "<crt>.ocsp" file beside ${o.cert},
# no "ocsp-update on", no "set ssl ocsp-response" and no "ocsp-relay staple" for it
# (the relay has no OCSP answer to give: it never invents one).
# The relay can still tell you whether the certificate is revoked (it fetches and verifies the CRL):
#   npx ocsp-relay register --relay ${o.admin} --token "$ADMIN_TOKEN" ${o.cert}
#   npx ocsp-relay check <name>:443 --relay ${o.admin}
${mustStapleWarning(o.mustStaple)}#
# ${o.cert}: the leaf, then its intermediates;
${keyNote}
${haproxyProxies(o.listen, o.cert)}`;
}

function haproxy(o: {
  admin: string;
  fleetKey: string | undefined;
  cert: string;
  key: string | undefined;
  listen: string;
  socket: string;
}): string {
  const ocsp = `${o.cert}.ocsp`;
  const keyNote = haproxyKeyNote(o.cert, o.key);
  const command = `npx ocsp-relay staple --relay ${o.admin} --out ${ocsp} --min-validity 1h ${o.cert}`;
  const staple = `${keyEnvLoad(o.fleetKey)}${command}`;
  const push = `echo "set ssl ocsp-response $(base64 -w0 ${ocsp})" | socat stdio ${o.socket}`;
  return `# HAProxy: OCSP stapling from a file that ocsp-relay keeps fresh (ocsp-relay config haproxy).
#
# HAProxy staples the DER answer it finds in "<crt>.ocsp" beside the certificate when it starts or
# reloads, and takes a newer one at any time through its runtime API ("set ssl ocsp-response").
# Its own updater ("ocsp-update on", HAProxy 2.8+) asks the responder named in the certificate's AIA
# and has no responder override, so it cannot go through the relay: leave it off and let
# "ocsp-relay staple" write the file from the relay (verified, refused unless valid).
#
# ${o.cert}: the leaf, then its intermediates (HAProxy needs the issuer to match the answer);
${keyNote}#
${keyEnvSteps(o.fleetKey, " ", "haproxy")}# 1. The first answer, before HAProxy (re)starts:
#      ${staple}
# 2. Fresh answers without a reload, hourly: a systemd service + timer
#    /etc/systemd/system/ocsp-relay-staple.service
#      [Unit]
#      Description=Refresh the OCSP staple of ${o.cert} from ocsp-relay
#      After=network-online.target
#      Wants=network-online.target
#      [Service]
#      Type=oneshot
#      WorkingDirectory=/opt/ocsp-relay${o.fleetKey ? "\n#      EnvironmentFile=" + KEY_ENV_FILE : ""}
#      ExecStart=/usr/bin/${command}
#      ExecStartPost=/bin/sh -c 'echo "set ssl ocsp-response $$(base64 -w0 ${ocsp})" | socat stdio ${o.socket}'
#    /etc/systemd/system/ocsp-relay-staple.timer
#      [Unit]
#      Description=Hourly OCSP staple refresh from ocsp-relay
#      [Timer]
#      OnBootSec=2min
#      OnUnitActiveSec=1h
#      RandomizedDelaySec=10min
#      [Install]
#      WantedBy=timers.target
#    then: systemctl daemon-reload && systemctl enable --now ocsp-relay-staple.timer
#    or cron (/etc/cron.d/ocsp-relay-staple):
#      17 * * * * root cd /opt/ocsp-relay && ${staple} && ${push}
#    "staple" exits 1 and writes nothing when the relay's answer is not valid for another hour,
#    so HAProxy keeps the answer it has; a revoked certificate is written and exits 1 (replace it).
# 3. Check: npx ocsp-relay check <name>:443

global
    stats socket ${o.socket} mode 600 level admin

${haproxyProxies(o.listen, o.cert)}`;
}

function caddy(o: {
  relay: string;
  cert: string;
  key: string;
  serverName: string;
  listen: string | undefined;
  aiaUrls: string[];
  noOcsp: string[] | undefined;
}): string {
  const site = o.listen ? `${o.serverName}:${o.listen.replace(/^.*:/, "")}` : o.serverName;
  const overrides = (
    o.aiaUrls.length > 0 ? o.aiaUrls : ["<the OCSP URL in your certificate's AIA>"]
  )
    .map((u) => `"${u}": "${o.relay}/"`)
    .join(", ");
  const none = o.noOcsp
    ? `#\n${comment(o.noOcsp)}\n# Caddy staples nothing for it (it asks only the responder in the AIA); nothing to configure.\n`
    : "";
  return `# Caddy: OCSP stapling (ocsp-relay config caddy).
${none}#
# Caddy staples by itself, for every certificate it serves, asking the responder named in the
# certificate's AIA extension and refreshing on its own (global option ocsp_interval, default 1h);
# it also keeps answers in its storage across restarts. The Caddyfile has no responder override:
# its only stapling switch is the global option "ocsp_stapling off", which turns stapling off.
# So with a Caddyfile, Caddy does not go through ocsp-relay; keeping Caddy's own stapling (below)
# is the recommended setup, and the relay still serves your other servers.
#
# Caddy's JSON configuration has an override, "ocsp_overrides" in a TLS automation policy
# (marked EXPERIMENTAL by Caddy), but it applies to certificates Caddy manages itself (ACME), not
# to files loaded with "tls cert key". For managed certificates, in the JSON config
# ("caddy adapt" turns a Caddyfile into JSON):
#   "apps": { "tls": { "automation": { "policies": [ {
#     "subjects": ["${o.serverName}"],
#     "ocsp_overrides": { ${overrides} }
#   } ] } } }
# The key is the responder URL exactly as written in the certificates (npx ocsp-relay chain shows it).

${site} {
	tls ${o.cert} ${o.key}
	# ... your handlers ...
}
`;
}

/**
 * The leaf of --cert, when the file can be read here (the snippet may be written for paths that
 * exist only on the server: then nothing is known of the certificate and stapling stays on).
 */
function leafIn(path: string | undefined): CertificateFacts | undefined {
  if (!path || !existsSync(path)) return undefined;
  try {
    return leafOf(readCertificates(path, "--cert"));
  } catch {
    return undefined;
  }
}

/** Where HAProxy finds the private key of `cert`, as a comment. */
function haproxyKeyNote(cert: string, key: string | undefined): string {
  return key && key !== `${cert}.key`
    ? `#   the key: append it to ${cert}, or link it beside it (HAProxy 2.2+ reads <crt>.key):
#     ln -s ${key} ${cert}.key
`
    : `#   the key: inside ${cert}, or in ${cert}.key (HAProxy 2.2+ reads <crt>.key)
`;
}

/** The proxy sections of both HAProxy snippets: TLS with `cert` on `listen`, an example backend. */
function haproxyProxies(listen: string, cert: string): string {
  return `defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend https
    bind ${listen} ssl crt ${cert}
    default_backend app

backend app
    server app1 127.0.0.1:8080
`;
}
