-- gold.fact_order_line rows for the orders in temp.wh_orders; their fact_order rows are this build's temp.wh_fact_order
-- (the rows it has just written for exactly those orders), so the lake table is not read back.
-- One row per (order, line number): the first in chain order (a re-delivered created event repeats its lines). The
-- window runs over the Silver columns the fact keeps, before the join, ordered by one HUGEINT chain position.
WITH silver_lines AS (
  SELECT order_id, line_no, product_id, quantity, unit_price, line_amount, currency, occurred_at, event_id, tenant_id,
         _bronze_topic, _bronze_partition, _bronze_offset
    FROM {{silver}}.order_lines
   WHERE {{scope wh_orders order_id}} AND _bronze_rowid <= {{position}}
  QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY {{chainKey}}) = 1
),
lines AS (
  SELECT l.*, coalesce(f.order_at, l.occurred_at) AS order_at, f.customer_key, f.status
    FROM silver_lines l
    LEFT JOIN temp.main.wh_fact_order f USING (order_id)
),
-- The product version valid at the order's event time (same rules and the same range join as the customer in
-- fact_order.sql).
versions AS (
  SELECT product_id, valid_from, product_key,
         coalesce(lead(valid_from) OVER (PARTITION BY product_id ORDER BY valid_from), TIMESTAMPTZ 'infinity') AS valid_until
    FROM (SELECT product_id, valid_from, product_key FROM {{gold}}.dim_product WHERE product_id IS NOT NULL
          QUALIFY row_number() OVER (PARTITION BY product_id, valid_from ORDER BY version_no DESC) = 1)
)
SELECT l.order_id, l.line_no,
       coalesce(v.product_key, CASE WHEN l.product_id IS NULL THEN -1 ELSE {{memberKey l.product_id}} END) AS product_key,
       l.product_id,
       coalesce(l.customer_key, -1) AS customer_key,
       coalesce({{dateKey l.order_at}}, -1) AS date_key,
       coalesce({{hour l.order_at}}, -1) AS hour_key,
       l.order_at, l.quantity, l.unit_price, l.line_amount, l.currency,
       coalesce(l.status = 'cancelled', false) AS is_cancelled,
       l.event_id AS source_event_id, l.tenant_id, l._bronze_topic, l._bronze_partition, l._bronze_offset
  FROM lines l
  LEFT JOIN versions v ON v.product_id = l.product_id AND l.order_at >= v.valid_from AND l.order_at < v.valid_until
