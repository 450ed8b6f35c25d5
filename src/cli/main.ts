// `ocsp-relay <command>`: the command-line face of the protocol core and the relay.
// Exit codes: 0 success / may be served, 1 must not be served or the check failed, 2 usage error.

import { verifyCommand } from "./verify.ts";
import { requestCommand } from "./request.ts";
import { UsageError } from "./args.ts";

const USAGE = `usage: ocsp-relay <command> [options]

commands:
  verify   --response R.der --issuer ISSUER.pem (--cert LEAF.pem | --request REQ.der)
           [--at 2026-01-01T00:00:00Z] [--json]
           Exit 0 when the response may be served for that certificate at --at (default now),
           1 when it must not, 2 for usage errors or unreadable files.
  request  --issuer I.pem --cert C.pem [--sha256] [--out REQ.der | --url BASE]
           Make an OCSP request (DER to --out or stdout), or print its GET URL under BASE.
`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  verify: verifyCommand,
  request: requestCommand,
};

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
      process.stderr.write(`ocsp-relay ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
