-- What the orders in temp.wh_orders add to gold.mart_daily_sales, per row of it (an incremental build applies the
-- difference between these before and after the build; see mart_daily_sales.sql for the rows themselves). {{lines}} is
-- gold.fact_order_line, or before the build the touched lines as they stood (temp.wh_before_lines).
SELECT l.date_key, coalesce(p.category, 'unknown') AS category, coalesce(c.segment, 'unknown') AS segment, l.currency,
       count(DISTINCT l.order_id) AS orders, count(*) AS lines, sum(l.quantity) AS units, sum(l.line_amount) AS revenue
  FROM {{lines}} l
  LEFT JOIN {{gold}}.dim_product p ON p.product_key = l.product_key
  LEFT JOIN {{gold}}.dim_customer c ON c.customer_key = l.customer_key
 WHERE l.order_id IN (SELECT order_id FROM temp.main.wh_orders) AND NOT l.is_cancelled
 GROUP BY ALL
