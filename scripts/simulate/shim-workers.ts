// What the simulator gives the worker for `cloudflare:workers` (bundle.ts aliases the import here):
// the Durable Object base class, which only keeps its state and Env, as the runtime's does.

export class DurableObject<Env = unknown> {
  constructor(
    protected readonly ctx: unknown,
    protected readonly env: Env,
  ) {}
}

export const env = {};
