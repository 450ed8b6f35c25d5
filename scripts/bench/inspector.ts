// A minimal Chrome DevTools Protocol client for workerd's inspector (--inspector-addr on loopback):
// the relay isolate's JS heap usage, and a CPU profile of one load run. Every call is bounded in
// time; the session is closed after use, so no inspector session is attached during measured runs
// other than the profiled one.

import { LOOPBACK } from "../support/loopback.ts";
import type { CpuProfile } from "./profile.ts";

export class Inspector {
  private nextId = 0;
  private readonly contexts: number[] = [];
  private readonly pending = new Map<
    number,
    (message: { result?: unknown; error?: unknown }) => void
  >();

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        result?: unknown;
        error?: unknown;
      };
      const cdpEvent = message as { method?: string; params?: { context?: { id: number } } };
      if (cdpEvent.method === "Runtime.executionContextCreated" && cdpEvent.params?.context) {
        this.contexts.push(cdpEvent.params.context.id);
      }
      if (message.id !== undefined) {
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      }
    });
  }

  /** Opens a session with workerd's service `service` (its inspector target id). */
  static async connect(port: number, service: string, timeoutMs = 5000): Promise<Inspector> {
    const ws = new WebSocket(`ws://${LOOPBACK}:${port}/${service}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("inspector: connect timed out")), timeoutMs);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`inspector: cannot connect to ${LOOPBACK}:${port}/${service}`));
      });
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector: ${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, (message) => {
        clearTimeout(timer);
        if (message.error)
          reject(new Error(`inspector: ${method}: ${JSON.stringify(message.error)}`));
        else resolve(message.result as T);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async heapUsed(): Promise<number> {
    const r = await this.call<{ usedSize: number }>("Runtime.getHeapUsage");
    return r.usedSize;
  }

  /**
   * Heap used after full garbage collections. workerd's inspector ignores
   * HeapProfiler.collectGarbage, so the worker runs with V8's --expose-gc and gc() is evaluated in
   * its context (a heap snapshot would collect too, but takes minutes with 10 000 answers held).
   */
  async heapUsedAfterGc(): Promise<number> {
    await this.call("Runtime.enable");
    for (let i = 0; i < 40 && this.contexts.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const contextId = this.contexts[0];
    if (contextId === undefined) throw new Error("inspector: the worker has no execution context");
    const r = await this.call<{ result: { value?: unknown } }>("Runtime.evaluate", {
      expression: "typeof gc === 'function' ? (gc(), gc(), true) : false",
      contextId,
      returnByValue: true,
    });
    await this.call("Runtime.disable").catch(() => undefined);
    if (r.result.value !== true) throw new Error("inspector: gc() is not exposed (--expose-gc)");
    return this.heapUsed();
  }

  async startProfile(): Promise<void> {
    await this.call("Profiler.enable");
    await this.call("Profiler.setSamplingInterval", { interval: 200 }).catch(() => undefined);
    await this.call("Profiler.start");
  }

  async stopProfile(): Promise<CpuProfile> {
    const r = await this.call<{ profile: CpuProfile }>("Profiler.stop", {}, 30_000);
    await this.call("Profiler.disable").catch(() => undefined);
    return r.profile;
  }

  /** Closes the session and waits (at most 3 s) until it is closed: workerd serves one at a time. */
  async close(): Promise<void> {
    for (const done of this.pending.values()) done({ error: "closed" });
    this.pending.clear();
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      this.ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close();
    });
  }
}
