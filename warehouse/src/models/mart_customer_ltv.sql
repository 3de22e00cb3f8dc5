-- gold.mart_customer_ltv for the customers in temp.wh_ltv_customers, over their non-cancelled orders.
WITH current_version AS (
  SELECT customer_id, customer_key, name, segment FROM {{gold}}.dim_customer
   WHERE {{scope wh_ltv_customers customer_id}} AND customer_id IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY is_inferred, valid_from DESC, version_no DESC) = 1
),
totals AS (
  SELECT customer_id, currency, count(*) AS orders, sum(order_amount) AS revenue,
         min(order_at) AS first_order_at, max(order_at) AS last_order_at
    FROM {{gold}}.fact_order
   WHERE {{scope wh_ltv_customers customer_id}} AND customer_id IS NOT NULL
     AND status <> 'cancelled' AND order_amount IS NOT NULL
   GROUP BY customer_id, currency
)
SELECT t.customer_id, v.customer_key, v.name, v.segment, t.currency, t.orders,
       CAST(t.revenue AS DECIMAL(18,2)) AS revenue, t.first_order_at, t.last_order_at,
       -- exact: cents rounded half away from zero, no floating point
       CAST(CAST(sign(t.revenue) * ((abs(CAST(t.revenue * 100 AS HUGEINT)) * 2 + t.orders) // (2 * t.orders)) AS DECIMAL(18,0)) * 0.01
            AS DECIMAL(18,2)) AS average_order_value
  FROM totals t LEFT JOIN current_version v USING (customer_id)
