-- gold.dim_device versions for the natural keys in temp.wh_devices, re-cut from every Silver event of those keys
-- (same chain rules as dim_product.sql). The natural key is device_ref (<tenantId>:<deviceId>): device ids are unique
-- within a tenant only. Registrations and updates carry the full state, so no attribute is carried.
WITH events AS (
  SELECT * FROM {{silver}}.devices
   WHERE {{scope wh_devices device_ref}} AND _bronze_rowid <= {{position}}
),
hashed AS (
  SELECT device_ref, device_id, event_id, occurred_at, tenant_id, _bronze_topic, _bronze_partition, _bronze_offset,
         _bronze_rowid, name, kind, site, firmware,
         md5(concat_ws('|', coalesce(name, '~'), coalesce(kind, '~'), coalesce(site, '~'), coalesce(firmware, '~')))
           AS change_hash
    FROM events
),
changes AS (
  SELECT * FROM hashed
  QUALIFY change_hash IS DISTINCT FROM
          lag(change_hash) OVER (PARTITION BY device_ref ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id)
),
versions AS (
  SELECT *,
         coalesce(lead(occurred_at) OVER chain, TIMESTAMPTZ '{{open}}') AS valid_to,
         row_number() OVER chain AS version_no
    FROM changes
  WINDOW chain AS (PARTITION BY device_ref ORDER BY occurred_at, _bronze_partition, _bronze_offset, event_id)
)
SELECT
  CASE WHEN version_no = 1 THEN {{memberKey device_ref}}
       ELSE {{versionKey device_ref}} END AS device_key,
  device_ref, device_id, name, kind, site, firmware,
  occurred_at AS valid_from, valid_to, valid_to = TIMESTAMPTZ '{{open}}' AS is_current, false AS is_inferred,
  change_hash, CAST(version_no AS INTEGER) AS version_no, event_id AS source_event_id, tenant_id,
  _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid
FROM versions
