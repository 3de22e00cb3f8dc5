import {
  type LakeColumn,
  type LakeColumnType,
  type LakeTable,
  type SilverTables,
  silverTables,
} from '@bitvelocity/lakehouse';

const col = (name: string, type: LakeColumnType, description: string): LakeColumn => ({ name, type, description });

/** The open-row marker: a current version's exclusive valid_to. A far-future instant (not NULL) keeps range joins simple. */
export const OPEN_VALID_TO = '9999-12-31 00:00:00+00';
/** The valid_from of an inferred member: it stands for the natural key at every instant until its first version. */
export const INFERRED_VALID_FROM = '0001-01-01 00:00:00+00';
/** The surrogate key of the unknown member every dimension holds (a fact with no natural key points at it). */
export const UNKNOWN_KEY = -1;

const SCD2: LakeColumn[] = [
  col('valid_from', 'TIMESTAMP WITH TIME ZONE', 'event time from which this version holds (inclusive)'),
  col(
    'valid_to',
    'TIMESTAMP WITH TIME ZONE',
    `event time at which this version stops holding (exclusive); ${OPEN_VALID_TO} marks the open (current) version`,
  ),
  col('is_current', 'BOOLEAN', 'true for the open version of a natural key that is not deleted'),
  col('is_inferred', 'BOOLEAN', 'true for an inferred member: a fact named the key before its first version arrived'),
  col('change_hash', 'VARCHAR', 'md5 of the tracked attributes; an equal hash after the previous version is no change'),
  col('version_no', 'INTEGER', 'position of this version in its natural key chain (1 = first; 0 = unknown/inferred)'),
  col('source_event_id', 'VARCHAR', 'the Silver event that started this version'),
  col('tenant_id', 'VARCHAR', 'tenant of the source event'),
  col('_bronze_topic', 'VARCHAR', 'Bronze topic of the source event'),
  col('_bronze_partition', 'INTEGER', 'Bronze partition of the source event'),
  col('_bronze_offset', 'BIGINT', 'Bronze offset of the source event'),
  col('_bronze_rowid', 'BIGINT', 'Bronze row id of the source event'),
];

const TIME_KEYS: LakeColumn[] = [
  col('date_key', 'INTEGER', 'gold.dim_date key (yyyymmdd, UTC) of the order event time; -1 when unknown'),
  col('hour_key', 'INTEGER', 'gold.dim_hour key (hour of day 0-23, UTC) of the order event time; -1 when unknown'),
];

export interface WarehouseTables {
  dimProduct: LakeTable;
  dimCustomer: LakeTable;
  dimDevice: LakeTable;
  dimDate: LakeTable;
  dimHour: LakeTable;
  factOrder: LakeTable;
  factOrderLine: LakeTable;
  martDailySales: LakeTable;
  martCustomerLifetimeValue: LakeTable;
  martProductPriceHistory: LakeTable;
  martHourlyOrdersByStatus: LakeTable;
  martOrdersPerMinute: LakeTable;
  martAnomalies: LakeTable;
  martPipelineFreshness: LakeTable;
  corrections: LakeTable;
  builds: LakeTable;
}

/** The warehouse's Gold tables in a schema (`gold` by default; tests use their own). */
export function warehouseTables(schema = 'gold'): WarehouseTables {
  const t = (name: string, description: string, columns: LakeColumn[]): LakeTable => ({
    schema,
    name,
    description,
    columns,
  });
  return {
    dimProduct: t(
      'dim_product',
      'Products as SCD Type 2: one row per version, chained in (event time, Bronze partition, offset) order',
      [
        col(
          'product_key',
          'BIGINT',
          'surrogate key: the first version (or inferred member) takes md5(product_id), later versions md5(product_id, valid_from, Bronze offset); -1 unknown',
        ),
        col('product_id', 'VARCHAR', 'natural key (NULL only for the unknown member)'),
        col('sku', 'VARCHAR', 'stock keeping unit'),
        col('name', 'VARCHAR', 'product name'),
        col('category', 'VARCHAR', 'product category'),
        col('price', 'DECIMAL(18,2)', 'list price in this version (exact decimal)'),
        col('currency', 'VARCHAR', 'ISO 4217 currency of the price'),
        ...SCD2,
      ],
    ),
    dimCustomer: t(
      'dim_customer',
      'Customers as SCD Type 2: one row per version, chained in (event time, offset) order',
      [
        col(
          'customer_key',
          'BIGINT',
          'surrogate key: the first version (or inferred member) takes md5(customer_id), later versions md5(customer_id, valid_from, Bronze offset); -1 unknown',
        ),
        col('customer_id', 'VARCHAR', 'natural key (NULL only for the unknown member)'),
        col('email', 'VARCHAR', 'e-mail address'),
        col('name', 'VARCHAR', 'customer name'),
        col('segment', 'VARCHAR', 'consumer | small_business | enterprise'),
        col('country', 'VARCHAR', 'ISO 3166 country of the address'),
        col('city', 'VARCHAR', 'city of the address'),
        ...SCD2,
      ],
    ),
    dimDevice: t(
      'dim_device',
      'Devices as SCD Type 2, from the device registry’s registrations and updates: one row per version, chained in (event time, Bronze partition, offset) order',
      [
        col(
          'device_key',
          'BIGINT',
          'surrogate key: the first version takes md5(device_ref), later versions md5(device_ref, valid_from, Bronze offset); -1 unknown',
        ),
        col('device_ref', 'VARCHAR', 'natural key: <tenantId>:<deviceId> (NULL only for the unknown member)'),
        col('device_id', 'VARCHAR', 'the device’s own id, unique within its tenant'),
        col('name', 'VARCHAR', 'device name'),
        col('kind', 'VARCHAR', 'what the device is, e.g. thermometer'),
        col('site', 'VARCHAR', 'where it is installed; NULL when unknown'),
        col('firmware', 'VARCHAR', 'firmware version in this version of the device'),
        ...SCD2,
      ],
    ),
    dimDate: t('dim_date', 'Calendar days (UTC) over the range the facts need, plus the unknown day -1', [
      col('date_key', 'INTEGER', 'yyyymmdd; -1 for the unknown day'),
      col('date', 'DATE', 'the calendar day'),
      col('day_of_week', 'INTEGER', 'ISO day of week, 1 = Monday .. 7 = Sunday'),
      col('day_name', 'VARCHAR', 'Monday .. Sunday'),
      col('week', 'INTEGER', 'ISO week number'),
      col('month', 'INTEGER', 'month 1-12'),
      col('month_name', 'VARCHAR', 'January .. December'),
      col('quarter', 'INTEGER', 'quarter 1-4'),
      col('year', 'INTEGER', 'calendar year'),
      col('is_weekend', 'BOOLEAN', 'Saturday or Sunday'),
    ]),
    dimHour: t('dim_hour', 'Hours of the day (UTC), plus the unknown hour -1', [
      col('hour_key', 'INTEGER', 'hour of day 0-23; -1 unknown'),
      col('label', 'VARCHAR', 'e.g. 09:00-10:00'),
      col('day_part', 'VARCHAR', 'night (0-5) | morning (6-11) | afternoon (12-17) | evening (18-23)'),
    ]),
    factOrder: t(
      'fact_order',
      'Orders as an accumulating snapshot: one row per order, its milestones filled in as its events arrive',
      [
        col('order_id', 'VARCHAR', 'natural key of the order'),
        col(
          'customer_key',
          'BIGINT',
          'gold.dim_customer version valid at the order event time (inferred member if none yet; -1 unknown)',
        ),
        col('customer_id', 'VARCHAR', 'natural key of the customer'),
        ...TIME_KEYS,
        col(
          'order_at',
          'TIMESTAMP WITH TIME ZONE',
          "the order's event time: its created event (its first event until that arrives)",
        ),
        col('status', 'VARCHAR', 'status after the latest event in event time: created | paid | shipped | cancelled'),
        col('currency', 'VARCHAR', 'ISO 4217 currency'),
        col('order_amount', 'DECIMAL(18,2)', 'total of the created order (exact decimal)'),
        col('paid_amount', 'DECIMAL(18,2)', 'amount of the payment, once paid'),
        col('line_count', 'INTEGER', 'lines of the created order'),
        col('created_at', 'TIMESTAMP WITH TIME ZONE', 'when the order was created'),
        col('paid_at', 'TIMESTAMP WITH TIME ZONE', 'when it was paid'),
        col('shipped_at', 'TIMESTAMP WITH TIME ZONE', 'when it was shipped'),
        col('cancelled_at', 'TIMESTAMP WITH TIME ZONE', 'when it was cancelled'),
        col('carrier', 'VARCHAR', 'carrier of the shipment'),
        col('cancel_reason', 'VARCHAR', 'why it was cancelled'),
        col('event_count', 'INTEGER', 'Silver order events folded into this row'),
        col('created_event_id', 'VARCHAR', 'the Silver created event'),
        col('last_event_id', 'VARCHAR', 'the latest Silver event (in event time) folded in'),
        col('tenant_id', 'VARCHAR', 'tenant of the order'),
        col('_bronze_rowid', 'BIGINT', 'highest Bronze row id among the folded events'),
      ],
    ),
    factOrderLine: t('fact_order_line', 'Order lines: one row per line of a created order', [
      col('order_id', 'VARCHAR', 'the order (gold.fact_order)'),
      col('line_no', 'INTEGER', 'line number within the order'),
      col(
        'product_key',
        'BIGINT',
        'gold.dim_product version valid at the order event time (inferred member if none yet; -1 unknown)',
      ),
      col('product_id', 'VARCHAR', 'natural key of the product'),
      col('customer_key', 'BIGINT', 'gold.dim_customer version valid at the order event time'),
      ...TIME_KEYS,
      col('order_at', 'TIMESTAMP WITH TIME ZONE', 'event time of the created order'),
      col('quantity', 'INTEGER', 'units ordered'),
      col('unit_price', 'DECIMAL(18,2)', 'unit price charged (exact decimal)'),
      col('line_amount', 'DECIMAL(18,2)', 'quantity x unit price (exact decimal)'),
      col('currency', 'VARCHAR', 'ISO 4217 currency'),
      col('is_cancelled', 'BOOLEAN', 'the order is cancelled (marts leave its revenue out)'),
      col('source_event_id', 'VARCHAR', 'the Silver created event carrying the line'),
      col('tenant_id', 'VARCHAR', 'tenant of the order'),
      col('_bronze_topic', 'VARCHAR', 'Bronze topic of the created event'),
      col('_bronze_partition', 'INTEGER', 'Bronze partition of the created event'),
      col('_bronze_offset', 'BIGINT', 'Bronze offset of the created event'),
    ]),
    martDailySales: t(
      'mart_daily_sales',
      'Daily sales by product category and customer segment (the versions valid at each order), cancelled orders left out',
      [
        col('date_key', 'INTEGER', 'gold.dim_date key'),
        col('sale_date', 'DATE', 'the day (UTC)'),
        col('category', 'VARCHAR', "product category of the version sold ('unknown' for inferred/unknown products)"),
        col('segment', 'VARCHAR', "customer segment of the version that ordered ('unknown' when not known)"),
        col('currency', 'VARCHAR', 'ISO 4217 currency'),
        col('orders', 'BIGINT', 'distinct orders with at least one line in the group'),
        col('lines', 'BIGINT', 'order lines'),
        col('units', 'BIGINT', 'units sold'),
        col('revenue', 'DECIMAL(18,2)', 'sum of line amounts (exact decimal)'),
      ],
    ),
    martCustomerLifetimeValue: t('mart_customer_ltv', 'Customer lifetime value over non-cancelled orders', [
      col('customer_id', 'VARCHAR', 'natural key of the customer'),
      col('customer_key', 'BIGINT', 'the current gold.dim_customer version'),
      col('name', 'VARCHAR', 'current name'),
      col('segment', 'VARCHAR', 'current segment'),
      col('currency', 'VARCHAR', 'ISO 4217 currency of the amounts'),
      col('orders', 'BIGINT', 'non-cancelled orders'),
      col('revenue', 'DECIMAL(18,2)', 'sum of order amounts (exact decimal)'),
      col('first_order_at', 'TIMESTAMP WITH TIME ZONE', 'event time of the first order'),
      col('last_order_at', 'TIMESTAMP WITH TIME ZONE', 'event time of the latest order'),
      col('average_order_value', 'DECIMAL(18,2)', 'revenue / orders, rounded half away from zero to cents'),
    ]),
    martProductPriceHistory: t(
      'mart_product_price_history',
      'Each price a product has had (consecutive versions at one price form one period) with the units sold at it',
      [
        col('product_id', 'VARCHAR', 'natural key of the product'),
        col('price', 'DECIMAL(18,2)', 'list price in the period (exact decimal)'),
        col('currency', 'VARCHAR', 'ISO 4217 currency'),
        col('price_from', 'TIMESTAMP WITH TIME ZONE', 'start of the period (inclusive)'),
        col('price_to', 'TIMESTAMP WITH TIME ZONE', `end of the period (exclusive; ${OPEN_VALID_TO} while open)`),
        col('versions', 'INTEGER', 'dimension versions in the period'),
        col('orders', 'BIGINT', 'non-cancelled orders whose lines resolved to the period'),
        col('units_sold', 'BIGINT', 'units of those lines'),
        col('revenue', 'DECIMAL(18,2)', 'line amounts of those lines (exact decimal)'),
      ],
    ),
    martHourlyOrdersByStatus: t(
      'mart_hourly_orders_by_status',
      'Orders per hour of their event time, by current status',
      [
        col('date_key', 'INTEGER', 'gold.dim_date key'),
        col('hour_key', 'INTEGER', 'gold.dim_hour key'),
        col('hour_start', 'TIMESTAMP WITH TIME ZONE', 'start of the hour (UTC)'),
        col('status', 'VARCHAR', 'current status of the orders'),
        col('currency', 'VARCHAR', 'ISO 4217 currency'),
        col('orders', 'BIGINT', 'orders'),
        col('amount', 'DECIMAL(18,2)', 'sum of order amounts (exact decimal)'),
      ],
    ),
    martOrdersPerMinute: t('mart_orders_per_minute', 'Dashboard: orders and revenue per minute of event time', [
      col('date_key', 'INTEGER', 'gold.dim_date key'),
      col('minute_start', 'TIMESTAMP WITH TIME ZONE', 'start of the minute (UTC)'),
      col('currency', 'VARCHAR', 'ISO 4217 currency'),
      col('orders', 'BIGINT', 'orders created in the minute'),
      col('cancelled', 'BIGINT', 'of which cancelled since'),
      col('revenue', 'DECIMAL(18,2)', 'order amounts of the non-cancelled ones (exact decimal)'),
    ]),
    martAnomalies: t(
      'mart_anomalies',
      'Dashboard: anomalies per hour and metric, from the z-score anomaly table (rewritten by every build)',
      [
        col('hour_start', 'TIMESTAMP WITH TIME ZONE', 'start of the hour of the anomalies (UTC)'),
        col('metric', 'VARCHAR', 'the metric the detector watches'),
        col('anomalies', 'BIGINT', 'anomalies in the hour'),
        col('max_score', 'DOUBLE', 'highest absolute z-score in the hour'),
        col('last_event_time', 'TIMESTAMP WITH TIME ZONE', 'event time of the latest anomaly in the hour'),
      ],
    ),
    martPipelineFreshness: t(
      'mart_pipeline_freshness',
      'Dashboard: how fresh each layer is, as of the last warehouse build (rewritten by every build)',
      [
        col('layer', 'VARCHAR', 'silver | gold'),
        col('table_name', 'VARCHAR', 'qualified table name'),
        col('rows', 'BIGINT', 'rows in the table'),
        col('newest_event_at', 'TIMESTAMP WITH TIME ZONE', 'newest event time in the table'),
        col('newest_ingested_at', 'TIMESTAMP WITH TIME ZONE', 'newest ingest (landing) time, where the table has one'),
        col('measured_at', 'TIMESTAMP WITH TIME ZONE', 'when the build measured it'),
        col('lag_seconds', 'DOUBLE', 'measured_at minus newest_ingested_at (or newest_event_at)'),
      ],
    ),
    corrections: t(
      'fact_corrections',
      'Late facts: each order that arrived behind what the marts had published, the periods it touched, values before and after (also sent to Kafka)',
      [
        col('correction_id', 'VARCHAR', 'deterministic id (uuid form of md5(order, build)); the Kafka event id'),
        col('build_seq', 'BIGINT', 'the build that made the correction'),
        col('order_id', 'VARCHAR', 'the late fact (gold.fact_order)'),
        col('order_at', 'TIMESTAMP WITH TIME ZONE', 'its event time'),
        col(
          'published_up_to',
          'TIMESTAMP WITH TIME ZONE',
          'the newest order event time the marts had published before',
        ),
        col('tenant_id', 'VARCHAR', 'tenant of the order'),
        col('periods', 'JSON', 'array of {mart, period, before, after} with the period totals'),
        col('sent', 'BOOLEAN', 'false when written; the event is sent to Kafka after the build commits'),
      ],
    ),
    builds: t('warehouse_builds', 'Every committed warehouse build and the Silver position it consumed', [
      col('build_seq', 'BIGINT', 'build number, 1, 2, ...'),
      col('mode', 'VARCHAR', 'incremental | full'),
      col('started_at', 'TIMESTAMP WITH TIME ZONE', 'start of the build'),
      col('finished_at', 'TIMESTAMP WITH TIME ZONE', 'when its rows were written (just before COMMIT)'),
      col(
        'silver_position',
        'BIGINT',
        'highest Silver _bronze_rowid the build consumed (the next build reads after it)',
      ),
      col('silver_snapshot_id', 'BIGINT', 'the lake snapshot the build read Silver at'),
      col('silver_rows_read', 'BIGINT', 'Silver rows read (new since the previous position)'),
      col('published_up_to', 'TIMESTAMP WITH TIME ZONE', 'newest order event time in the facts after the build'),
      col('late_facts', 'INTEGER', 'orders that arrived behind the previous published_up_to'),
      col('rows_written', 'JSON', 'rows written per table'),
    ]),
  };
}

/** The Silver tables the warehouse reads (inputs of the transform). */
export function warehouseInputs(silver: SilverTables = silverTables()): LakeTable[] {
  return [silver.orders, silver.orderLines, silver.products, silver.customers, silver.devices];
}
