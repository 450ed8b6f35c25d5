// The relay's only seams to the outside world that tests replace: the clock, randomness and the
// fetch used for CA responders. Production code reads them here (never Date.now / fetch directly)
// so that the worker and its Durable Objects can be driven by an injected clock and a fake CA.

export const runtime = {
  now: (): number => Date.now(),
  random: (): number => Math.random(),
  fetch: (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => fetch(input, init),
};
