-- Devices that send telemetry: registered through the services (the source of gold.dim_device), one row per device
-- of a tenant. device_id is the device's own id (what it publishes under), not a generated one.
CREATE TABLE devices (
  tenant_id   text        NOT NULL,
  device_id   text        NOT NULL CHECK (device_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
  name        text        NOT NULL,
  kind        text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  site        text,
  firmware    text        NOT NULL,
  version     integer     NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, device_id)
);

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON devices USING (tenant_id = current_setting('bv.tenant_id', true)) WITH CHECK (tenant_id = current_setting('bv.tenant_id', true));
