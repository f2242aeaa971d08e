#include "src/ledger/postgres_schema.h"

#include <string_view>

namespace genops::ledger::postgres {
namespace {

// 1734700655 below is kOperationLockSpace; the version recorded at the end is kSchemaVersion.
static_assert(kOperationLockSpace == 1734700655);
static_assert(kSchemaVersion == 2);

constexpr std::string_view kScript = R"sql(
SET LOCAL client_min_messages = warning;

CREATE TABLE IF NOT EXISTS genops_meta (
  key text PRIMARY KEY,
  value bigint NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS genops_budget_generation;

CREATE TABLE IF NOT EXISTS genops_budgets (
  name text COLLATE "C" PRIMARY KEY,
  scope jsonb NOT NULL,
  match_required jsonb NOT NULL,
  match_absent text[] NOT NULL,
  limit_nanos bigint NOT NULL CHECK (limit_nanos >= 0),
  period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'total')),
  alert_thresholds float8[] NOT NULL,
  generation bigint NOT NULL,
  spec_version bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS genops_budget_windows (
  budget text COLLATE "C" NOT NULL,
  generation bigint NOT NULL,
  window_start bigint NOT NULL,
  window_end bigint NOT NULL,
  spent bigint NOT NULL DEFAULT 0,
  reserved bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (budget, generation, window_start)
);

CREATE TABLE IF NOT EXISTS genops_reservations (
  operation_id text COLLATE "C" PRIMARY KEY,
  dims jsonb NOT NULL,
  amount bigint NOT NULL,
  expires_at bigint NOT NULL,
  hold_budgets text[] NOT NULL,
  hold_generations bigint[] NOT NULL,
  hold_starts bigint[] NOT NULL
);
CREATE INDEX IF NOT EXISTS genops_reservations_by_expiry
  ON genops_reservations (expires_at) WHERE expires_at <> 0;

CREATE TABLE IF NOT EXISTS genops_settled (
  operation_id text COLLATE "C" PRIMARY KEY,
  reserved bigint NOT NULL,
  actual bigint NOT NULL,
  budgets text[] NOT NULL,
  recorded_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS genops_settled_by_time ON genops_settled (recorded_at);

CREATE TABLE IF NOT EXISTS genops_total_spent (
  shard int PRIMARY KEY,
  nanos bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS genops_operations (
  operation_id text COLLATE "C" PRIMARY KEY,
  start_unix_nanos bigint NOT NULL,
  duration_nanos bigint NOT NULL,
  operation_type text NOT NULL,
  operation_name text NOT NULL,
  team text NOT NULL,
  project text NOT NULL,
  environment text NOT NULL,
  customer_id text NOT NULL,
  cost_center text NOT NULL,
  feature text NOT NULL,
  tags jsonb NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  input_tokens bigint NOT NULL,
  cache_read_tokens bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  cost_nanos bigint NOT NULL,
  priced boolean NOT NULL,
  decision text NOT NULL,
  reason text NOT NULL,
  error boolean NOT NULL,
  trace_id text NOT NULL
);
CREATE INDEX IF NOT EXISTS genops_operations_by_start
  ON genops_operations (start_unix_nanos, operation_id);

-- Version 2: gateway virtual keys. Only the SHA-256 of a key is stored.
CREATE TABLE IF NOT EXISTS genops_virtual_keys (
  id text COLLATE "C" PRIMARY KEY,
  secret_sha256 text COLLATE "C" NOT NULL UNIQUE,
  display_prefix text NOT NULL,
  team text NOT NULL,
  project text NOT NULL,
  environment text NOT NULL,
  customer_id text NOT NULL,
  cost_center text NOT NULL,
  feature text NOT NULL,
  tags jsonb NOT NULL,
  budget_name text NOT NULL,
  description text NOT NULL,
  created_unix_nanos bigint NOT NULL,
  revoked_unix_nanos bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS genops_virtual_keys_by_created
  ON genops_virtual_keys (created_unix_nanos, id);

-- Window-start arrays passed by clients are indexed by period: day, week, month, total.
CREATE OR REPLACE FUNCTION genops_period_index(p_period text) RETURNS int
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE p_period WHEN 'day' THEN 1 WHEN 'week' THEN 2 WHEN 'month' THEN 3 ELSE 4 END
$fn$;

-- Names of the budgets matching a call's dimensions, in name order.
CREATE OR REPLACE FUNCTION genops_matching(p_dims jsonb) RETURNS text[]
LANGUAGE sql STABLE AS $fn$
  SELECT COALESCE(array_agg(b.name::text ORDER BY b.name), '{}')
  FROM genops_budgets b
  WHERE p_dims @> b.match_required AND NOT (p_dims ?| b.match_absent)
$fn$;

-- Budget statuses (spec and counters of the current window), in name order; every budget
-- when p_names is NULL.
CREATE OR REPLACE FUNCTION genops_statuses(p_names text[], p_starts bigint[])
RETURNS TABLE(o_name text, o_spec_version bigint, o_scope text, o_limit bigint,
              o_period text, o_thresholds text, o_spent bigint, o_reserved bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT b.name, b.spec_version, b.scope::text, b.limit_nanos, b.period,
         array_to_string(b.alert_thresholds, ','), COALESCE(w.spent, 0), COALESCE(w.reserved, 0)
  FROM genops_budgets b
  LEFT JOIN genops_budget_windows w
    ON w.budget = b.name AND w.generation = b.generation
   AND w.window_start = p_starts[genops_period_index(b.period)]
  WHERE p_names IS NULL OR b.name = ANY (p_names)
  ORDER BY b.name
$fn$;

-- Subtracts each hold's amount from its window, locking the rows in key order. Windows that
-- are gone (budget deleted, period changed, pruned) are skipped.
CREATE OR REPLACE FUNCTION genops_drop_holds(p_budgets text[], p_generations bigint[],
    p_starts bigint[], p_amounts bigint[])
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  k record;
BEGIN
  FOR k IN
    SELECT t.budget, t.generation, t.window_start, sum(t.amount)::bigint AS amount
    FROM unnest(p_budgets, p_generations, p_starts, p_amounts)
         AS t(budget, generation, window_start, amount)
    GROUP BY t.budget, t.generation, t.window_start
    ORDER BY t.budget COLLATE "C", t.generation, t.window_start
  LOOP
    UPDATE genops_budget_windows w SET reserved = w.reserved - k.amount
    WHERE w.budget = k.budget AND w.generation = k.generation
      AND w.window_start = k.window_start;
  END LOOP;
END
$fn$;

-- Outcome codes: 0 done (admitted), 1 refused, 2 repeat of an earlier outcome, 3 no such
-- reservation, 4 the id holds a reservation (Charge).
--
-- The functions below inline their row locking instead of calling helpers: a nested
-- plpgsql call costs about as much as the statement it wraps, and these run for every call.
CREATE OR REPLACE FUNCTION genops_reserve(p_id text, p_dims jsonb, p_amount bigint,
    p_expires bigint, p_starts bigint[], p_ends bigint[])
RETURNS TABLE(o_code int, o_refused_by text, o_name text, o_spec_version bigint,
              o_scope text, o_limit bigint, o_period text, o_thresholds text, o_spent bigint,
              o_reserved bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_dims jsonb;
  v_names text[];
  b record;
  v_spent bigint;
  v_reserved bigint;
  v_n int := 0;
  a_names text[] := '{}';
  a_generations bigint[] := '{}';
  a_starts bigint[] := '{}';
  a_versions bigint[] := '{}';
  a_scopes text[] := '{}';
  a_limits bigint[] := '{}';
  a_periods text[] := '{}';
  a_thresholds text[] := '{}';
  a_spent bigint[] := '{}';
  a_reserved bigint[] := '{}';
BEGIN
  PERFORM pg_advisory_xact_lock(1734700655, hashtext(p_id));
  SELECT r.dims INTO v_dims FROM genops_reservations r WHERE r.operation_id = p_id;
  IF FOUND THEN
    RETURN QUERY SELECT 2, NULL::text, s.* FROM (SELECT 1) AS one
      LEFT JOIN LATERAL genops_statuses(genops_matching(v_dims), p_starts) AS s ON true;
    RETURN;
  END IF;
  SELECT st.budgets INTO v_names FROM genops_settled st WHERE st.operation_id = p_id;
  IF FOUND THEN
    RETURN QUERY SELECT 2, NULL::text, s.* FROM (SELECT 1) AS one
      LEFT JOIN LATERAL genops_statuses(v_names, p_starts) AS s ON true;
    RETURN;
  END IF;
  FOR b IN
    SELECT bb.name::text AS name, bb.generation, bb.limit_nanos, bb.spec_version,
           bb.scope::text AS scope, bb.period,
           array_to_string(bb.alert_thresholds, ',') AS thresholds,
           p_starts[genops_period_index(bb.period)] AS window_start,
           p_ends[genops_period_index(bb.period)] AS window_end
    FROM genops_budgets bb
    WHERE p_dims @> bb.match_required AND NOT (p_dims ?| bb.match_absent)
    ORDER BY bb.name
  LOOP
    LOOP  -- lock the window row, creating it when missing
      SELECT w.spent, w.reserved INTO v_spent, v_reserved
      FROM genops_budget_windows w
      WHERE w.budget = b.name AND w.generation = b.generation
        AND w.window_start = b.window_start
      FOR UPDATE;
      EXIT WHEN FOUND;
      INSERT INTO genops_budget_windows (budget, generation, window_start, window_end, spent,
                                         reserved)
      VALUES (b.name, b.generation, b.window_start, b.window_end, 0, 0)
      ON CONFLICT DO NOTHING;
      IF FOUND THEN
        v_spent := 0;
        v_reserved := 0;
        EXIT;
      END IF;
    END LOOP;
    IF v_spent::numeric + v_reserved + p_amount > b.limit_nanos THEN
      RETURN QUERY SELECT 1, b.name, s.* FROM (SELECT 1) AS one
        LEFT JOIN LATERAL genops_statuses(genops_matching(p_dims), p_starts) AS s ON true;
      RETURN;
    END IF;
    v_n := v_n + 1;
    a_names[v_n] := b.name;
    a_generations[v_n] := b.generation;
    a_starts[v_n] := b.window_start;
    a_versions[v_n] := b.spec_version;
    a_scopes[v_n] := b.scope;
    a_limits[v_n] := b.limit_nanos;
    a_periods[v_n] := b.period;
    a_thresholds[v_n] := b.thresholds;
    a_spent[v_n] := v_spent;
    a_reserved[v_n] := v_reserved;
  END LOOP;
  INSERT INTO genops_reservations (operation_id, dims, amount, expires_at, hold_budgets,
                                   hold_generations, hold_starts)
  VALUES (p_id, p_dims, p_amount, p_expires, a_names, a_generations, a_starts);
  o_code := 0;
  FOR i IN 1 .. v_n LOOP
    UPDATE genops_budget_windows w SET reserved = w.reserved + p_amount
    WHERE w.budget = a_names[i] AND w.generation = a_generations[i]
      AND w.window_start = a_starts[i];
    o_name := a_names[i];
    o_spec_version := a_versions[i];
    o_scope := a_scopes[i];
    o_limit := a_limits[i];
    o_period := a_periods[i];
    o_thresholds := a_thresholds[i];
    o_spent := a_spent[i];
    o_reserved := a_reserved[i] + p_amount;
    RETURN NEXT;
  END LOOP;
  IF v_n = 0 THEN
    RETURN NEXT;  -- the outcome row, without budgets
  END IF;
END
$fn$;

-- Settle (p_charge false: the reservation's attribution and holds) or Charge (p_charge
-- true: p_dims, nothing held). Drops the holds, adds p_actual to the window at settle time
-- of every matching budget, remembers the id and adds to a total shard.
CREATE OR REPLACE FUNCTION genops_record(p_id text, p_charge boolean, p_dims jsonb,
    p_actual bigint, p_starts bigint[], p_ends bigint[], p_recorded_at bigint, p_shard int)
RETURNS TABLE(o_code int, o_held bigint, o_actual bigint, o_name text,
              o_spec_version bigint, o_scope text, o_limit bigint, o_period text,
              o_thresholds text, o_spent bigint, o_reserved bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_settled record;
  v_dims jsonb := p_dims;
  v_held bigint := 0;
  h_budgets text[] := '{}';
  h_generations bigint[] := '{}';
  h_starts bigint[] := '{}';
  b record;
  a_names text[] := '{}';
  a_generations bigint[] := '{}';
  a_starts bigint[] := '{}';
  a_ends bigint[] := '{}';
  a_versions bigint[] := '{}';
  a_scopes text[] := '{}';
  a_limits bigint[] := '{}';
  a_periods text[] := '{}';
  a_thresholds text[] := '{}';
  a_spent bigint[] := '{}';
  a_reserved bigint[] := '{}';
  v_n int;
  v_h int;
  v_i int;
  v_spent bigint;
  v_reserved bigint;
  k record;
BEGIN
  PERFORM pg_advisory_xact_lock(1734700655, hashtext(p_id));
  SELECT st.reserved, st.actual, st.budgets INTO v_settled
  FROM genops_settled st WHERE st.operation_id = p_id;
  IF FOUND THEN
    RETURN QUERY SELECT 2, v_settled.reserved, v_settled.actual, s.* FROM (SELECT 1) AS one
      LEFT JOIN LATERAL genops_statuses(v_settled.budgets, p_starts) AS s ON true;
    RETURN;
  END IF;
  IF p_charge THEN
    IF EXISTS (SELECT 1 FROM genops_reservations r WHERE r.operation_id = p_id) THEN
      o_code := 4;
      RETURN NEXT;
      RETURN;
    END IF;
  ELSE
    DELETE FROM genops_reservations r WHERE r.operation_id = p_id
    RETURNING r.dims, r.amount, r.hold_budgets, r.hold_generations, r.hold_starts
    INTO v_dims, v_held, h_budgets, h_generations, h_starts;
    IF NOT FOUND THEN
      o_code := 3;
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  v_n := 0;
  FOR b IN
    SELECT bb.name::text AS name, bb.generation, bb.limit_nanos, bb.spec_version,
           bb.scope::text AS scope, bb.period,
           array_to_string(bb.alert_thresholds, ',') AS thresholds,
           p_starts[genops_period_index(bb.period)] AS window_start,
           p_ends[genops_period_index(bb.period)] AS window_end
    FROM genops_budgets bb
    WHERE v_dims @> bb.match_required AND NOT (v_dims ?| bb.match_absent)
    ORDER BY bb.name
  LOOP
    v_n := v_n + 1;
    a_names[v_n] := b.name;
    a_generations[v_n] := b.generation;
    a_starts[v_n] := b.window_start;
    a_ends[v_n] := b.window_end;
    a_versions[v_n] := b.spec_version;
    a_scopes[v_n] := b.scope;
    a_limits[v_n] := b.limit_nanos;
    a_periods[v_n] := b.period;
    a_thresholds[v_n] := b.thresholds;
  END LOOP;
  v_h := cardinality(h_budgets);

  IF v_h = 0 OR (h_budgets = a_names AND h_generations = a_generations
                 AND h_starts = a_starts) THEN
    -- The usual case: nothing held, or held in exactly the windows the spend lands in
    -- (already in key order, one per budget).
    FOR i IN 1 .. v_n LOOP
      INSERT INTO genops_budget_windows AS w (budget, generation, window_start, window_end,
                                              spent, reserved)
      VALUES (a_names[i], a_generations[i], a_starts[i], a_ends[i], p_actual,
              CASE WHEN v_h = 0 THEN 0 ELSE -v_held END)
      ON CONFLICT (budget, generation, window_start) DO UPDATE
      SET spent = w.spent + EXCLUDED.spent, reserved = w.reserved + EXCLUDED.reserved
      RETURNING w.spent, w.reserved INTO v_spent, v_reserved;
      a_spent[i] := v_spent;
      a_reserved[i] := v_reserved;
    END LOOP;
  ELSE
    -- Every window touched (the holds', and the spend's at settle time), in key order. A
    -- spend window is created when missing; a hold's window only updated when it exists.
    FOR k IN
      SELECT t.budget, t.generation, t.window_start, max(t.window_end) AS window_end,
             sum(t.spent)::bigint AS spent, sum(t.reserved)::bigint AS reserved
      FROM unnest(h_budgets || a_names, h_generations || a_generations, h_starts || a_starts,
                  array_fill(NULL::bigint, ARRAY[v_h]) || a_ends,
                  array_fill(0::bigint, ARRAY[v_h]) || array_fill(p_actual, ARRAY[v_n]),
                  array_fill(-v_held, ARRAY[v_h]) || array_fill(0::bigint, ARRAY[v_n]))
           AS t(budget, generation, window_start, window_end, spent, reserved)
      GROUP BY t.budget, t.generation, t.window_start
      ORDER BY t.budget COLLATE "C", t.generation, t.window_start
    LOOP
      IF k.window_end IS NULL THEN
        UPDATE genops_budget_windows w SET reserved = w.reserved + k.reserved
        WHERE w.budget = k.budget AND w.generation = k.generation
          AND w.window_start = k.window_start;
      ELSE
        v_i := array_position(a_names, k.budget);
        INSERT INTO genops_budget_windows AS w (budget, generation, window_start, window_end,
                                                spent, reserved)
        VALUES (k.budget, k.generation, k.window_start, k.window_end, k.spent, k.reserved)
        ON CONFLICT (budget, generation, window_start) DO UPDATE
        SET spent = w.spent + EXCLUDED.spent, reserved = w.reserved + EXCLUDED.reserved
        RETURNING w.spent, w.reserved INTO v_spent, v_reserved;
        a_spent[v_i] := v_spent;
        a_reserved[v_i] := v_reserved;
      END IF;
    END LOOP;
  END IF;

  INSERT INTO genops_settled (operation_id, reserved, actual, budgets, recorded_at)
  VALUES (p_id, v_held, p_actual, a_names, p_recorded_at);
  INSERT INTO genops_total_spent AS t (shard, nanos) VALUES (p_shard, p_actual)
  ON CONFLICT (shard) DO UPDATE SET nanos = t.nanos + EXCLUDED.nanos;

  o_code := 0;
  o_held := v_held;
  o_actual := p_actual;
  FOR i IN 1 .. v_n LOOP
    o_name := a_names[i];
    o_spec_version := a_versions[i];
    o_scope := a_scopes[i];
    o_limit := a_limits[i];
    o_period := a_periods[i];
    o_thresholds := a_thresholds[i];
    o_spent := a_spent[i];
    o_reserved := a_reserved[i];
    RETURN NEXT;
  END LOOP;
  IF v_n = 0 THEN
    RETURN NEXT;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION genops_release(p_id text) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_reservation record;
BEGIN
  PERFORM pg_advisory_xact_lock(1734700655, hashtext(p_id));
  DELETE FROM genops_reservations r WHERE r.operation_id = p_id
  RETURNING r.amount, r.hold_budgets, r.hold_generations, r.hold_starts INTO v_reservation;
  IF FOUND THEN
    PERFORM genops_drop_holds(v_reservation.hold_budgets, v_reservation.hold_generations,
        v_reservation.hold_starts,
        array_fill(v_reservation.amount, ARRAY[cardinality(v_reservation.hold_budgets)]));
  END IF;
END
$fn$;

-- Releases reservations expired at p_now, forgets settled ids recorded before
-- p_settled_before, and drops windows that ended empty or belong to no current budget.
-- Returns how many reservations it released.
CREATE OR REPLACE FUNCTION genops_expire(p_now bigint, p_settled_before bigint) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  v_count int;
  v_budgets text[];
  v_generations bigint[];
  v_starts bigint[];
  v_amounts bigint[];
BEGIN
  WITH expired AS (
    DELETE FROM genops_reservations r
    WHERE r.operation_id IN (
      SELECT x.operation_id FROM genops_reservations x
      WHERE x.expires_at <> 0 AND x.expires_at <= p_now
      ORDER BY x.operation_id
      FOR UPDATE SKIP LOCKED)
    RETURNING r.amount, r.hold_budgets, r.hold_generations, r.hold_starts
  ), holds AS (
    SELECT h.budget, h.generation, h.window_start, e.amount
    FROM expired e,
         unnest(e.hold_budgets, e.hold_generations, e.hold_starts)
           AS h(budget, generation, window_start)
  )
  SELECT (SELECT count(*) FROM expired), a.budgets, a.generations, a.starts, a.amounts
  INTO v_count, v_budgets, v_generations, v_starts, v_amounts
  FROM (SELECT COALESCE(array_agg(budget), '{}') AS budgets,
               COALESCE(array_agg(generation), '{}') AS generations,
               COALESCE(array_agg(window_start), '{}') AS starts,
               COALESCE(array_agg(amount), '{}') AS amounts
        FROM holds) AS a;
  IF cardinality(v_budgets) > 0 THEN
    PERFORM genops_drop_holds(v_budgets, v_generations, v_starts, v_amounts);
  END IF;

  DELETE FROM genops_settled st WHERE st.recorded_at < p_settled_before;

  DELETE FROM genops_budget_windows w
  WHERE (w.budget, w.generation, w.window_start) IN (
    SELECT x.budget, x.generation, x.window_start FROM genops_budget_windows x
    WHERE (x.window_end <= p_now AND x.reserved = 0)
       OR NOT EXISTS (SELECT 1 FROM genops_budgets b
                      WHERE b.name = x.budget AND b.generation = x.generation)
    ORDER BY x.budget, x.generation, x.window_start
    FOR UPDATE OF x SKIP LOCKED);
  RETURN v_count;
END
$fn$;

INSERT INTO genops_meta (key, value) VALUES ('schema_version', 2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
)sql";

}  // namespace

std::string_view SchemaScript() { return kScript; }

}  // namespace genops::ledger::postgres
