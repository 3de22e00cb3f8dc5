-- gold.mart_product_price_history for the products in temp.wh_price_recut (every product in a full build; in an
-- incremental one those whose chain was re-cut: the others keep their periods and get the difference of units sold,
-- warehouse.ts): consecutive versions at one price form one period (gaps and islands); a delete gap starts a new
-- period. {{line_facts}} is gold.fact_order_line, or in a full build the build's own lines.
WITH versions AS (
  SELECT product_id, product_key, version_no, price, currency, valid_from, valid_to,
         lag(price) OVER chain AS previous_price, lag(valid_to) OVER chain AS previous_to
    FROM {{gold}}.dim_product
   WHERE {{scope wh_price_recut product_id}} AND product_id IS NOT NULL AND NOT is_inferred
  WINDOW chain AS (PARTITION BY product_id ORDER BY version_no)
),
periods AS (
  SELECT *, sum(CASE WHEN previous_to IS NULL OR price IS DISTINCT FROM previous_price OR valid_from <> previous_to
                     THEN 1 ELSE 0 END) OVER (PARTITION BY product_id ORDER BY version_no) AS period_no
    FROM versions
),
sold AS (
  SELECT product_key, count(DISTINCT order_id) AS orders, sum(quantity) AS units, sum(line_amount) AS revenue
    FROM {{line_facts}}
   WHERE {{scope wh_price_recut product_id}} AND NOT is_cancelled
   GROUP BY product_key
)
SELECT p.product_id, p.price, max(p.currency) AS currency, min(p.valid_from) AS price_from,
       max(p.valid_to) AS price_to, CAST(count(*) AS INTEGER) AS versions,
       CAST(coalesce(sum(s.orders), 0) AS BIGINT) AS orders, CAST(coalesce(sum(s.units), 0) AS BIGINT) AS units_sold,
       CAST(coalesce(sum(s.revenue), 0) AS DECIMAL(18,2)) AS revenue
  FROM periods p LEFT JOIN sold s USING (product_key)
 GROUP BY p.product_id, p.period_no, p.price
