-- gold.fact_order rows (accumulating snapshot) for the orders in temp.wh_orders, folded from all their Silver events.
WITH events AS (
  SELECT *, split_part(event_type, '.', 3) AS action,
         {{chainKey}} AS chain_pos
    FROM {{silver}}.orders
   WHERE {{scope wh_orders order_id}} AND _bronze_rowid <= {{position}}
),
-- arg_min/arg_max over the chain position (one HUGEINT: event time, Bronze partition, offset) instead of ordered
-- aggregates; the
-- created event (the first one in chain order) is read in the same pass, a field at a time (arg_min_null keeps a
-- NULL field of that event instead of skipping to another row; chain positions are unique, so every field comes from
-- the same event, and column lineage can follow each one).
folded AS (
  SELECT order_id,
         arg_min_null(event_id, chain_pos) FILTER (WHERE action = 'created') AS created_event_id,
         arg_min_null(amount, chain_pos) FILTER (WHERE action = 'created') AS order_amount,
         arg_min_null(line_count, chain_pos) FILTER (WHERE action = 'created') AS line_count,
         arg_min_null(coalesce(status_at, occurred_at), chain_pos) FILTER (WHERE action = 'created') AS created_at,
         arg_min_null(customer_id, chain_pos) FILTER (WHERE action = 'created') AS created_customer_id,
         arg_min_null(currency, chain_pos) FILTER (WHERE action = 'created') AS created_currency,
         arg_min_null(tenant_id, chain_pos) FILTER (WHERE action = 'created') AS created_tenant_id,
         arg_min_null(occurred_at, chain_pos) FILTER (WHERE action = 'created') AS created_occurred_at,
         arg_max(coalesce(status, action), chain_pos) AS status,
         arg_max(event_id, chain_pos) AS last_event_id,
         arg_min(customer_id, chain_pos) FILTER (WHERE customer_id IS NOT NULL) AS any_customer_id,
         arg_min(currency, chain_pos) FILTER (WHERE currency IS NOT NULL) AS any_currency,
         arg_min(tenant_id, chain_pos) FILTER (WHERE tenant_id IS NOT NULL) AS any_tenant_id,
         min(occurred_at) AS first_at,
         min(coalesce(status_at, occurred_at)) FILTER (WHERE action = 'paid') AS paid_at,
         arg_min(amount, chain_pos) FILTER (WHERE action = 'paid' AND amount IS NOT NULL) AS paid_amount,
         min(coalesce(status_at, occurred_at)) FILTER (WHERE action = 'shipped') AS shipped_at,
         arg_min(carrier, chain_pos) FILTER (WHERE action = 'shipped' AND carrier IS NOT NULL) AS carrier,
         min(coalesce(status_at, occurred_at)) FILTER (WHERE action = 'cancelled') AS cancelled_at,
         arg_min(cancel_reason, chain_pos) FILTER (WHERE action = 'cancelled' AND cancel_reason IS NOT NULL) AS cancel_reason,
         CAST(count(*) AS INTEGER) AS event_count,
         max(_bronze_rowid) AS _bronze_rowid
    FROM events GROUP BY order_id
),
orders AS (
  SELECT f.* EXCLUDE (created_customer_id, created_currency, created_tenant_id, created_occurred_at),
         coalesce(f.created_customer_id, f.any_customer_id) AS customer_id,
         coalesce(f.created_currency, f.any_currency) AS currency,
         coalesce(f.created_tenant_id, f.any_tenant_id) AS tenant_id,
         coalesce(f.created_occurred_at, f.first_at) AS order_at
    FROM folded f
),
-- The customer version valid at the order's event time: the latest version of the key that started at or before the
-- order. Versions of a key never overlap and follow each other in chain order, so that version either holds the
-- instant ([valid_from, valid_to); an inferred member holds every instant) or, after a delete, is the last version
-- before it. Of versions that start at the same instant only the last in the chain (highest version_no) is not
-- empty, so it is the one kept. Each kept version then holds [valid_from, the next kept version's valid_from), and the
-- orders find theirs by one hash join on the natural key with that range (an ASOF join would sort every order by key
-- and time; the dimension is small). Before the first version the order takes the member key.
versions AS (
  SELECT customer_id, valid_from, customer_key,
         coalesce(lead(valid_from) OVER (PARTITION BY customer_id ORDER BY valid_from), TIMESTAMPTZ 'infinity') AS valid_until
    FROM (SELECT customer_id, valid_from, customer_key FROM {{gold}}.dim_customer WHERE customer_id IS NOT NULL
          QUALIFY row_number() OVER (PARTITION BY customer_id, valid_from ORDER BY version_no DESC) = 1)
)
SELECT o.order_id,
       coalesce(v.customer_key, CASE WHEN o.customer_id IS NULL THEN -1 ELSE {{memberKey o.customer_id}} END) AS customer_key,
       o.customer_id,
       coalesce({{dateKey o.order_at}}, -1) AS date_key,
       coalesce({{hour o.order_at}}, -1) AS hour_key,
       o.order_at, o.status, o.currency, o.order_amount, o.paid_amount, o.line_count,
       o.created_at, o.paid_at, o.shipped_at, o.cancelled_at, o.carrier, o.cancel_reason, o.event_count,
       o.created_event_id, o.last_event_id, o.tenant_id, o._bronze_rowid
  FROM orders o
  LEFT JOIN versions v ON v.customer_id = o.customer_id AND o.order_at >= v.valid_from AND o.order_at < v.valid_until
