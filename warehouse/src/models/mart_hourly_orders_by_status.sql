-- gold.mart_hourly_orders_by_status for the days in temp.wh_dates.
SELECT date_key, hour_key, {{trunc hour order_at}} AS hour_start, status, currency,
       count(*) AS orders, CAST(coalesce(sum(order_amount), 0) AS DECIMAL(18,2)) AS amount
  FROM {{gold}}.fact_order
 WHERE {{scope wh_dates date_key}}
 GROUP BY ALL
