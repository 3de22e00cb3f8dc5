-- gold.fact_order_line rows for the orders in temp.wh_orders (their gold.fact_order rows are already written).
WITH lines AS (
  SELECT l.*, coalesce(f.order_at, l.occurred_at) AS order_at, f.customer_key, f.status
    FROM {{silver}}.order_lines l
    LEFT JOIN {{gold}}.fact_order f USING (order_id)
   WHERE {{scope wh_orders l.order_id}} AND l._bronze_rowid <= {{position}}
  QUALIFY row_number() OVER (PARTITION BY l.order_id, l.line_no ORDER BY l.occurred_at, l._bronze_partition, l._bronze_offset, l.event_id) = 1
),
-- The product version valid at the order's event time (same rules as the customer in fact_order.sql).
in_range AS (
  SELECT l.order_id, l.line_no, d.product_key FROM lines l
    JOIN {{gold}}.dim_product d ON d.product_id = l.product_id AND l.order_at >= d.valid_from AND l.order_at < d.valid_to
),
unmatched AS (SELECT l.* FROM lines l ANTI JOIN in_range r ON r.order_id = l.order_id AND r.line_no = l.line_no),
after_delete AS (
  SELECT l.order_id, l.line_no, d.product_key FROM unmatched l
    JOIN {{gold}}.dim_product d ON d.product_id = l.product_id AND d.valid_to <= l.order_at
  QUALIFY row_number() OVER (PARTITION BY l.order_id, l.line_no ORDER BY d.valid_to DESC, d.version_no DESC) = 1
)
SELECT l.order_id, l.line_no,
       coalesce(r.product_key, a.product_key,
                CASE WHEN l.product_id IS NULL THEN -1 ELSE {{memberKey l.product_id}} END) AS product_key,
       l.product_id,
       coalesce(l.customer_key, -1) AS customer_key,
       coalesce(CAST(strftime(l.order_at, '%Y%m%d') AS INTEGER), -1) AS date_key,
       coalesce(CAST(hour(l.order_at) AS INTEGER), -1) AS hour_key,
       l.order_at, l.quantity, l.unit_price, l.line_amount, l.currency,
       coalesce(l.status = 'cancelled', false) AS is_cancelled,
       l.event_id AS source_event_id, l.tenant_id, l._bronze_topic, l._bronze_partition, l._bronze_offset
  FROM lines l
  LEFT JOIN in_range r ON r.order_id = l.order_id AND r.line_no = l.line_no
  LEFT JOIN after_delete a ON a.order_id = l.order_id AND a.line_no = l.line_no
