// Structured JSON logs (one object per line). Never given client addresses or headers.

export type LogEvent =
  | "upstream.fetch"
  | "upstream.error"
  | "upstream.rejected"
  | "upstream.get_refused"
  | "cache.kept"
  | "cache.stored"
  | "cache.write_failed"
  | "issuer.registered"
  | "issuer.deleted"
  | "request.error"
  | "refresh.failed"
  | "refresh.stopped"
  | "ca.inconsistent"
  | "alert"
  | "alert.failed"
  | "ledger.failed"
  | "upstream.budget_exceeded"
  | "owner.forgotten"
  | "crl.watch_reset"
  | "certificate.unpinned"
  | "pin.queued"
  | "pin.failed"
  | "pin.cancelled"
  | "alarm.failed"
  | "registry.kv_write_failed"
  | "config.invalid";

export function log(event: LogEvent, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ event, time: new Date().toISOString(), ...fields }));
}
