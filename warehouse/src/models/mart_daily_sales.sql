-- gold.mart_daily_sales for the days in temp.wh_dates: category and segment of the versions valid at each order.
SELECT l.date_key, d.date AS sale_date,
       coalesce(p.category, 'unknown') AS category, coalesce(c.segment, 'unknown') AS segment, l.currency,
       count(DISTINCT l.order_id) AS orders, count(*) AS lines, sum(l.quantity) AS units,
       CAST(sum(l.line_amount) AS DECIMAL(18,2)) AS revenue
  FROM {{gold}}.fact_order_line l
  LEFT JOIN {{gold}}.dim_product p ON p.product_key = l.product_key
  LEFT JOIN {{gold}}.dim_customer c ON c.customer_key = l.customer_key
  LEFT JOIN {{gold}}.dim_date d ON d.date_key = l.date_key
 WHERE {{scope wh_dates l.date_key}} AND NOT l.is_cancelled
 GROUP BY ALL
