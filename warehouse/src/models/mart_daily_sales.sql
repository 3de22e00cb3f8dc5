-- gold.mart_daily_sales, all days (a full build; an incremental one keeps the mart by difference, see
-- mart_daily_sales_contributions.sql): category and segment of the versions valid at each order. The lines are the
-- build's own (temp.wh_fact_order_line, just written to gold.fact_order_line). Two plain GROUP BYs instead of a
-- count(DISTINCT order_id): an order is one row of the first (its lines of one category), so the second counts rows.
WITH per_order AS (
  SELECT l.date_key, coalesce(p.category, 'unknown') AS category, coalesce(c.segment, 'unknown') AS segment,
         l.currency, l.order_id, count(*) AS lines, sum(l.quantity) AS units, sum(l.line_amount) AS revenue
    FROM temp.main.wh_fact_order_line l
    LEFT JOIN {{gold}}.dim_product p ON p.product_key = l.product_key
    LEFT JOIN {{gold}}.dim_customer c ON c.customer_key = l.customer_key
   WHERE NOT l.is_cancelled
   GROUP BY ALL
)
SELECT o.date_key, d.date AS sale_date, o.category, o.segment, o.currency,
       count(*) AS orders, sum(o.lines) AS lines, sum(o.units) AS units, CAST(sum(o.revenue) AS DECIMAL(18,2)) AS revenue
  FROM per_order o
  LEFT JOIN {{gold}}.dim_date d ON d.date_key = o.date_key
 GROUP BY ALL
