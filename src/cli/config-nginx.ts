// The nginx snippets of `ocsp-relay config nginx` that staple: nginx asking the relay itself
// (ssl_stapling_responder, fetched lazily: no staple on the first handshakes after a start or
// reload), or nginx reading ssl_stapling_file, which `ocsp-relay staple` keeps fresh (stapled from
// the very first handshake). RFC 6066 §8 is what both send; RFC 6960 Appendix A.1 how they ask.

export interface NginxSite {
  /** Where OCSP requests go (under /k/<key> with a fleet key). */
  relay: string;
  /** The fleet key, if any (kept out of the command lines printed). */
  fleetKey?: string | undefined;
  /** The relay's base URL, for the admin commands. */
  admin: string;
  cert: string;
  key: string;
  serverName: string;
  listen: string;
}

const port = (listen: string) => listen.replace(/^.*:/, "");

/** Where the snippets put the fleet key for the `staple` job (packaging/systemd/ reads it too). */
export const KEY_ENV_FILE = "/etc/ocsp-relay/staple.env";

/**
 * Comment lines that put the fleet key in KEY_ENV_FILE, readable by root and `group` only (root
 * alone without one), never on a command line (ps, crontab and unit files show those).
 */
export function keyEnvSteps(key: string | undefined, indent: string, group?: string): string {
  if (!key) return "";
  return [
    "the fleet key, kept off command lines (ps, crontab and unit files show those): in a file",
    `only root${group ? ` and the group ${group}` : ""} can read, which the commands below load:`,
    "  install -d -m 755 /etc/ocsp-relay",
    `  install -m ${group ? `640 -g ${group}` : "600"} /dev/null ${KEY_ENV_FILE}`,
    `  echo 'OCSP_RELAY_KEY=${key}' > ${KEY_ENV_FILE}`,
  ]
    .map((l) => `#${indent}${l}\n`)
    .join("");
}

/** The start of a shell command that loads the fleet key from KEY_ENV_FILE (none: ""). */
export const keyEnvLoad = (key: string | undefined) =>
  key ? `set -a; . ${KEY_ENV_FILE}; set +a; ` : "";

/** nginx asks the relay (ssl_stapling_responder, http:// only) and verifies what it staples. */
export function nginx(o: NginxSite & { trusted: string }): string {
  return `# nginx: OCSP stapling through ocsp-relay (ocsp-relay config nginx). Goes in the http { } block.
# Before reloading:
#   ${o.cert}: the leaf, then its intermediates (fullchain);
#   ${o.trusted}: intermediates + root, for ssl_stapling_verify:
#     npx ocsp-relay chain ${o.cert} --out ${o.trusted}
#   the issuer registered with the relay:
#     npx ocsp-relay register --relay ${o.admin} --token "$ADMIN_TOKEN" ${o.cert}
# Then: nginx -t && nginx -s reload; npx ocsp-relay check ${o.serverName}:${port(o.listen)}
# nginx asks the relay on the first handshake after a start or reload and staples from then on.
# (To staple the very first handshake too: ocsp-relay config nginx --stapling-file FILE.)
server {
    listen ${o.listen} ssl;
    server_name ${o.serverName};

    ssl_certificate         ${o.cert};
    ssl_certificate_key     ${o.key};

    ssl_stapling            on;
    ssl_stapling_verify     on;
    ssl_trusted_certificate ${o.trusted};
    ssl_stapling_responder  ${o.relay}/;
    # nginx resolves the relay's name when it starts or reloads and keeps that address; to follow
    # DNS changes, name a resolver it can reach:
    # resolver 127.0.0.53 valid=300s;

    # ... your locations ...
}
`;
}

/**
 * nginx staples `staplingFile`, which `ocsp-relay staple` writes (verified, atomically) and
 * refreshes, reloading nginx when it changed: nginx reads the file only when it starts or reloads,
 * and then staples it from the first handshake on, without checking it.
 */
export function nginxStaplingFile(o: NginxSite & { staplingFile: string }): string {
  const out = o.staplingFile === `${o.cert}.ocsp` ? "" : ` --out ${o.staplingFile}`;
  const staple = `${keyEnvLoad(o.fleetKey)}npx ocsp-relay staple --relay ${o.admin}${out} ${o.cert}`;
  return `# nginx: OCSP stapling from a file that ocsp-relay keeps fresh (ocsp-relay config nginx --stapling-file).
# Goes in the http { } block.
# nginx reads ssl_stapling_file when it starts or reloads and staples it from the very first
# handshake. (With ssl_stapling_responder instead, nginx fetches lazily: the first handshakes after
# every start or reload carry no staple, and a client that enforces Must-Staple refuses them.)
# nginx does not check this file (not its signature, not its nextUpdate) and serves it until the
# next reload: "ocsp-relay staple" writes only answers it verified, never replaces a valid file
# with a failure, and reloads nginx only when the file changed.
# Before starting nginx (it refuses to start without the file):
#   ${o.cert}: the leaf, then its intermediates (fullchain; the issuer is found there);
#   the issuer registered with the relay:
#     npx ocsp-relay register --relay ${o.admin} --token "$ADMIN_TOKEN" ${o.cert}
${keyEnvSteps(o.fleetKey, "   ")}#   the first answer:
#     ${staple}
# Then keep it fresh, reloading nginx when it changed (hourly from a timer, or as a service with
# --watch; units in packaging/systemd/, which read the key from ${KEY_ENV_FILE}):
#     ${staple} --min-validity 1h --reload-cmd 'nginx -s reload'
# Exit 0: fresh; 1: refresh failed, the file still valid; 3: the file is missing or expiring.
# Check: npx ocsp-relay check ${o.serverName}:${port(o.listen)}
server {
    listen ${o.listen} ssl;
    server_name ${o.serverName};

    ssl_certificate         ${o.cert};
    ssl_certificate_key     ${o.key};

    ssl_stapling            on;
    ssl_stapling_file       ${o.staplingFile};

    # ... your locations ...
}
`;
}
