// The fleets the simulator runs: who asks for which certificate, from where, how often. nginx asks
// for each certificate's staple once an hour per worker process (on the first handshake after the
// staple it holds is an hour old), every 5 minutes while it has none; a staple job asks hourly.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface Shape {
  name: string;
  what: string;
  days: number;
  /** Certificates simulated; each stands for `scale` real ones (sampling, said in `what`). */
  certificates: number;
  scale: number;
  /** Servers asking for each certificate, and nginx workers per server. */
  serversPerCert: number;
  workersPerServer: number;
  /** One staple job per certificate, hourly (a HAProxy or lighttpd host's timer): a POST. */
  stapleJobs: boolean;
  locations: number;
  isolatesPerLocation: number;
  /** The CA's validity window (nextUpdate - thisUpdate). */
  windowMs: number;
  /** Every certificate registered (pinned) through the admin API before traffic starts. */
  pinned: boolean;
  /** Certificates replaced: lifetime, and renewal this long after issuance. */
  rotation?: { lifetimeMs: number; renewAfterMs: number };
  /** Anonymous requests for random serials of the registered issuer, per second. */
  hostilePerSecond?: number;
}

export const SHAPES: Record<string, Shape> = {
  fleet: {
    name: "fleet",
    what: "1 000 servers × 4 nginx workers, 5 certificates each (5 000), 7-day answers, 10 locations",
    days: 7,
    certificates: 5000,
    scale: 1,
    serversPerCert: 1,
    workersPerServer: 4,
    stapleJobs: false,
    locations: 10,
    isolatesPerLocation: 25,
    windowMs: 7 * DAY,
    pinned: true,
    // 5 000 certificates at 4 requests an hour: 20 000 requests an hour.
  },
  host: {
    name: "host",
    what:
      "1 000 000 certificates, each on 2 servers × 4 workers plus a staple job; simulated: a 0.1 % sample " +
      "(1 000 certificates, every figure × 1 000): certificates do not interact but through isolates and " +
      "caches, which the sample gets in proportion (isolates per location scaled down with it)",
    days: 7,
    certificates: 1000,
    scale: 1000,
    serversPerCert: 2,
    workersPerServer: 4,
    stapleJobs: true,
    locations: 10,
    isolatesPerLocation: 5,
    windowMs: 7 * DAY,
    pinned: true,
  },
  rotation: {
    name: "rotation",
    what:
      "100 certificates on 1 server × 1 worker each, 47-day certificates renewed after 31 days, one year; " +
      "each renewal registered, half of them with ?replaces=<old serial>",
    days: 365,
    certificates: 100,
    scale: 1,
    serversPerCert: 1,
    workersPerServer: 1,
    stapleJobs: false,
    locations: 4,
    isolatesPerLocation: 10,
    windowMs: 7 * DAY,
    pinned: true,
    rotation: { lifetimeMs: 47 * DAY, renewAfterMs: 31 * DAY },
  },
  hostile: {
    name: "hostile",
    what: "100 real certificates (1 server × 4 workers each) and 5 requests a second for random serials, one day",
    days: 1,
    certificates: 100,
    scale: 1,
    serversPerCert: 1,
    workersPerServer: 4,
    stapleJobs: false,
    locations: 10,
    isolatesPerLocation: 25,
    windowMs: 7 * DAY,
    pinned: true,
    hostilePerSecond: 5,
  },
};

export const NGINX = {
  /** nginx keeps a staple for an hour (ngx_event_openssl_stapling.c: valid = now + 3600). */
  refreshMs: HOUR,
  /** ... and asks again after 5 minutes when it got none. */
  retryMs: 5 * 60_000,
};
