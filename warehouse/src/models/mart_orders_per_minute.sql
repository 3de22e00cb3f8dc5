-- gold.mart_orders_per_minute for the days in temp.wh_dates.
SELECT date_key, {{trunc minute order_at}} AS minute_start, currency,
       count(*) AS orders, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       CAST(coalesce(sum(order_amount) FILTER (WHERE status <> 'cancelled'), 0) AS DECIMAL(18,2)) AS revenue
  FROM {{gold}}.fact_order
 WHERE {{scope wh_dates date_key}}
 GROUP BY ALL
