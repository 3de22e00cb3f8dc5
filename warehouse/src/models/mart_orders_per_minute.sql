-- gold.mart_orders_per_minute: orders, cancelled and revenue per minute and currency, from {{orders}} (as
-- mart_hourly_orders_by_status.sql: all of the build's fact_order rows, or in an incremental build the difference).
SELECT date_key, {{trunc minute order_at}} AS minute_start, currency,
       count(*) AS orders, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       CAST(coalesce(sum(order_amount) FILTER (WHERE status <> 'cancelled'), 0) AS DECIMAL(18,2)) AS revenue
  FROM {{orders}}
 GROUP BY ALL
