-- gold.mart_hourly_orders_by_status: orders and amount per hour, current status and currency. {{orders}} is the
-- build's fact_order rows (temp.wh_fact_order); an incremental build applies the difference between the touched
-- orders' rows before the build (temp.wh_before) and now, so its cost follows the increment, not the table.
SELECT date_key, hour_key, {{trunc hour order_at}} AS hour_start, status, currency,
       count(*) AS orders, CAST(coalesce(sum(order_amount), 0) AS DECIMAL(18,2)) AS amount
  FROM {{orders}}
 GROUP BY ALL
