-- gold.dim_customer versions for the natural keys in temp.wh_customers, re-cut from every Silver event of those keys
-- (same chain rules as dim_product.sql). Every customer event carries the full state, so no attribute is carried.
WITH events AS (
  SELECT * FROM {{silver}}.customers
   WHERE {{scope wh_customers customer_id}} AND _bronze_rowid <= {{position}}
),
hashed AS (
  SELECT customer_id, event_id, occurred_at, tenant_id, _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid,
         email, name, segment,
         json_extract_string(address, '$.country') AS country, json_extract_string(address, '$.city') AS city,
         md5(concat_ws('|', coalesce(email, '~'), coalesce(name, '~'), coalesce(segment, '~'),
                       coalesce(CAST(address AS VARCHAR), '~'))) AS change_hash
    FROM events
),
changes AS (
  SELECT * FROM hashed
  QUALIFY change_hash IS DISTINCT FROM
          lag(change_hash) OVER (PARTITION BY customer_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id)
),
versions AS (
  SELECT *,
         coalesce(lead(occurred_at) OVER chain, TIMESTAMPTZ '{{open}}') AS valid_to,
         row_number() OVER chain AS version_no
    FROM changes
  WINDOW chain AS (PARTITION BY customer_id ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id)
)
SELECT
  CASE WHEN version_no = 1 THEN {{memberKey customer_id}}
       ELSE {{versionKey customer_id}} END AS customer_key,
  customer_id, email, name, segment, country, city,
  occurred_at AS valid_from, valid_to, valid_to = TIMESTAMPTZ '{{open}}' AS is_current, false AS is_inferred,
  change_hash, CAST(version_no AS INTEGER) AS version_no, event_id AS source_event_id, tenant_id,
  _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid
FROM versions
