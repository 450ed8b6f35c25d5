#!/usr/bin/env bash
# npm start [-- <wrangler dev flags>]: the relay under wrangler dev, with the admin API on from the
# first run. wrangler dev reads local secrets from .dev.vars (git-ignored); when there is none, this
# writes one from .dev.vars.example with a random ADMIN_TOKEN and prints it. A token given on the
# command line (--var ADMIN_TOKEN:…, as the e2e tests do) wins over .dev.vars and skips all this.
set -euo pipefail

given_token=false
for arg in "$@"; do
  case "$arg" in ADMIN_TOKEN:* | --var=ADMIN_TOKEN:*) given_token=true ;; esac
done

if [ "$given_token" = false ]; then
  if [ ! -e .dev.vars ]; then
    token=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    (
      umask 077
      if [ -f .dev.vars.example ]; then
        sed "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$token/" .dev.vars.example >.dev.vars
      else
        printf 'ADMIN_TOKEN=%s\n' "$token" >.dev.vars
      fi
    )
    echo "npm start: wrote .dev.vars with a new local admin token (the admin API is on):"
  fi
  token=$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars | tail -n 1)
  if [ -n "$token" ]; then
    echo "  export ADMIN_TOKEN=$token    # from .dev.vars"
  else
    echo "npm start: .dev.vars sets no ADMIN_TOKEN: the admin API answers 403"
  fi
fi

exec wrangler dev "$@"
