-- gold.mart_orders_per_minute for the days in temp.wh_dates.
SELECT date_key, date_trunc('minute', order_at) AS minute_start, currency,
       count(*) AS orders, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       CAST(coalesce(sum(order_amount) FILTER (WHERE status <> 'cancelled'), 0) AS DECIMAL(18,2)) AS revenue
  FROM {{gold}}.fact_order
 WHERE date_key IN (SELECT date_key FROM temp.main.wh_dates)
 GROUP BY ALL
