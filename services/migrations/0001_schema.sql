-- Domain tables, the transactional outbox and idempotency keys. Every row carries tenant_id; row-level security
-- lets a session see only the tenant set in `bv.tenant_id` (services connect as a role without BYPASSRLS).

CREATE TABLE products (
  tenant_id   text          NOT NULL,
  product_id  uuid          NOT NULL,
  sku         text          NOT NULL,
  name        text          NOT NULL,
  category    text          NOT NULL,
  price       numeric(12,2) NOT NULL CHECK (price >= 0),
  currency    char(3)       NOT NULL,
  version     integer       NOT NULL DEFAULT 1,
  created_at  timestamptz   NOT NULL DEFAULT now(),
  updated_at  timestamptz   NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  PRIMARY KEY (tenant_id, product_id)
);
CREATE UNIQUE INDEX products_sku ON products (tenant_id, sku) WHERE deleted_at IS NULL;

CREATE TABLE customers (
  tenant_id    text        NOT NULL,
  customer_id  uuid        NOT NULL,
  email        text        NOT NULL,
  name         text        NOT NULL,
  segment      text        NOT NULL CHECK (segment IN ('consumer', 'small_business', 'enterprise')),
  address      jsonb,
  version      integer     NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, customer_id)
);
CREATE UNIQUE INDEX customers_email ON customers (tenant_id, lower(email));

-- Orders are partitioned by month of creation; the partition key is part of the primary key.
CREATE TABLE orders (
  tenant_id          text          NOT NULL,
  order_id           uuid          NOT NULL,
  customer_id        uuid          NOT NULL,
  status             text          NOT NULL CHECK (status IN ('created', 'paid', 'shipped', 'cancelled')),
  currency           char(3)       NOT NULL,
  total_amount       numeric(14,2) NOT NULL CHECK (total_amount >= 0),
  version            integer       NOT NULL DEFAULT 1,
  payment_reference  text,
  carrier            text,
  tracking_number    text,
  cancel_reason      text,
  created_at         timestamptz   NOT NULL,
  updated_at         timestamptz   NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, order_id, created_at),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id)
) PARTITION BY RANGE (created_at);
CREATE INDEX orders_created_at_brin ON orders USING brin (created_at);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id);

CREATE TABLE order_lines (
  tenant_id         text          NOT NULL,
  order_id          uuid          NOT NULL,
  order_created_at  timestamptz   NOT NULL,
  line_no           integer       NOT NULL CHECK (line_no >= 1),
  product_id        uuid          NOT NULL,
  quantity          integer       NOT NULL CHECK (quantity >= 1),
  unit_price        numeric(12,2) NOT NULL CHECK (unit_price >= 0),
  PRIMARY KEY (tenant_id, order_id, order_created_at, line_no),
  FOREIGN KEY (tenant_id, order_id, order_created_at) REFERENCES orders (tenant_id, order_id, created_at) ON DELETE CASCADE
);

-- The outbox Debezium reads (EventRouter). occurred_at is `timestamp` (UTC), not timestamptz: the EventRouter
-- needs it so. Partitioned by month so published months are dropped wholesale by the retention job.
CREATE TABLE outbox (
  id              uuid        NOT NULL,
  aggregate_type  text        NOT NULL,
  aggregate_id    text        NOT NULL,
  event_type      text        NOT NULL,
  payload         jsonb       NOT NULL,
  occurred_at     timestamp   NOT NULL,
  trace_id        text        NOT NULL,
  traceparent     text        NOT NULL,
  partition_key   text        NOT NULL,
  tenant_id       text        NOT NULL,
  PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX outbox_occurred_at_brin ON outbox USING brin (occurred_at);

-- The first response to each Idempotency-Key, replayed for retries of the same request.
CREATE TABLE idempotency_keys (
  tenant_id        text        NOT NULL,
  idempotency_key  text        NOT NULL,
  request_hash     text        NOT NULL,
  response_status  integer,
  response_body    jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at_brin ON idempotency_keys USING brin (created_at);

-- What the outbox retention job saw: the WAL position at a point in time. Once the CDC slot has confirmed a mark,
-- every outbox row that committed before the mark was taken has been published.
CREATE TABLE outbox_retention_marks (
  taken_at  timestamptz NOT NULL PRIMARY KEY,
  wal_lsn   pg_lsn      NOT NULL
);

-- Monthly partitions named <table>_pYYYYMM, created ahead of time; a DEFAULT partition keeps a write from ever
-- failing for a month not created yet (maintenance moves nothing: it only runs ahead of time).
CREATE FUNCTION bv_ensure_month_partitions(parent regclass, first_month date, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  month date;
  created integer := 0;
  name text;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    month := (date_trunc('month', first_month) + make_interval(months => i))::date;
    name := format('%s_p%s', parent::text, to_char(month, 'YYYYMM'));
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                     name, parent, month, (month + interval '1 month')::date);
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END $$;

CREATE TABLE orders_default PARTITION OF orders DEFAULT;
CREATE TABLE outbox_default PARTITION OF outbox DEFAULT;
SELECT bv_ensure_month_partitions('orders', (now() - interval '1 month')::date, 4);
SELECT bv_ensure_month_partitions('outbox', (now() - interval '1 month')::date, 4);

ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON products USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
CREATE POLICY tenant_isolation ON customers USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
CREATE POLICY tenant_isolation ON orders USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
CREATE POLICY tenant_isolation ON order_lines USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
CREATE POLICY tenant_isolation ON outbox USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
CREATE POLICY tenant_isolation ON idempotency_keys USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
