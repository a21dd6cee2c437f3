#!/bin/bash
# Entrypoint of deploy/postgres/Dockerfile: on first start (an empty $PGDATA) creates the
# cluster, a login role $POSTGRES_USER with $POSTGRES_PASSWORD (or the contents of
# $POSTGRES_PASSWORD_FILE) owning database $POSTGRES_DB, and lets that role in over TCP with
# scram-sha-256; then runs postgres in the foreground with any arguments given (e.g. -c
# name=value). The superuser "postgres" logs in only over the local socket (peer).
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=infmem}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "infmem-postgres: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2
    exit 1
  fi
  if [[ ! "$POSTGRES_USER" =~ ^[a-z_][a-z0-9_]*$ || ! "$POSTGRES_DB" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "infmem-postgres: POSTGRES_USER and POSTGRES_DB must match [a-z_][a-z0-9_]*" >&2
    exit 1
  fi
  initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  # Single-user mode: nothing listens while the role and database are made.
  password_literal=${POSTGRES_PASSWORD//\'/\'\'}
  postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE ROLE $POSTGRES_USER LOGIN PASSWORD '$password_literal';
CREATE DATABASE $POSTGRES_DB OWNER $POSTGRES_USER;
SQL
  echo "infmem-postgres: initialised $PGDATA (role $POSTGRES_USER, database $POSTGRES_DB)"
fi

# fsync and synchronous_commit are PostgreSQL's defaults; they are what makes a COMMIT (and so
# an acknowledged infmem call) survive a crash, so they are pinned here against a stray
# postgresql.conf.
exec postgres -D "$PGDATA" -c listen_addresses='*' -c fsync=on -c synchronous_commit=on \
  -c full_page_writes=on "$@"
