// Worker entry: wires the Env to the Hono app; nothing else.

import { Hono } from "hono";
import type { Env } from "./env.ts";

const app = new Hono<{ Bindings: Env }>();
app.get("/healthz", (c) => c.text("ok\n"));

export default app satisfies ExportedHandler<Env>;
