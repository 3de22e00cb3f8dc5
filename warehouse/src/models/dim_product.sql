-- gold.dim_product versions for the natural keys in temp.wh_products, re-cut from every Silver event of those keys.
-- Chain order is (event time, Bronze partition, Bronze offset, event id): an older change that arrives late falls
-- into its place and the versions around it are re-cut; equal event times are ordered by offset.
WITH events AS (
  SELECT * FROM {{silver}}.products
   WHERE {{scope wh_products product_id}} AND _bronze_rowid <= {{position}}
),
-- A price change carries only the price: every attribute is the latest one known at that point of the chain.
filled AS (
  SELECT product_id, event_id, occurred_at, tenant_id, _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid,
         coalesce(is_deleted, false) AS is_deleted,
         last_value(sku IGNORE NULLS) OVER chain AS sku,
         last_value(name IGNORE NULLS) OVER chain AS name,
         last_value(category IGNORE NULLS) OVER chain AS category,
         last_value(price IGNORE NULLS) OVER chain AS price,
         last_value(currency IGNORE NULLS) OVER chain AS currency
    FROM events
  WINDOW chain AS (PARTITION BY product_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
hashed AS (
  SELECT *, md5(concat_ws('|', coalesce(sku, '~'), coalesce(name, '~'), coalesce(category, '~'),
                          coalesce(CAST(price AS VARCHAR), '~'), coalesce(currency, '~'), CAST(is_deleted AS VARCHAR))) AS change_hash
    FROM filled
),
-- A re-delivered or no-op change has the hash of the change before it: it makes no version.
changes AS (
  SELECT * FROM hashed
  QUALIFY change_hash IS DISTINCT FROM
          lag(change_hash) OVER (PARTITION BY product_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id)
),
-- Each change ends the one before it; a delete is a change that ends the current version and starts none.
cut AS (
  SELECT *,
         coalesce(lead(occurred_at) OVER (PARTITION BY product_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id),
                  TIMESTAMPTZ '{{open}}') AS valid_to
    FROM changes
),
versions AS (
  SELECT *, row_number() OVER (PARTITION BY product_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id) AS version_no
    FROM cut WHERE NOT is_deleted
)
SELECT
  CASE WHEN version_no = 1 THEN {{memberKey product_id}}
       ELSE {{versionKey product_id}} END AS product_key,
  product_id, sku, name, category, price, currency,
  occurred_at AS valid_from, valid_to, valid_to = TIMESTAMPTZ '{{open}}' AS is_current, false AS is_inferred,
  change_hash, CAST(version_no AS INTEGER) AS version_no, event_id AS source_event_id, tenant_id,
  _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid
FROM versions
