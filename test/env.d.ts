// The bindings `env` from "cloudflare:workers" has in tests: the worker's own Env.
declare namespace Cloudflare {
  interface Env extends import("../src/env.ts").Env {}
}
