// The bindings `env` from "cloudflare:workers" has in tests: the worker's own Env.
type RelayEnv = import("../src/env.ts").Env;
declare namespace Cloudflare {
  interface Env extends RelayEnv {}
}
