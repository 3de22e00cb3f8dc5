import { randomUUID } from 'node:crypto';
import { createEnvelope, EVENT_TYPES, loadPlatformConfig } from '@bitvelocity/core';
import {
  type DuckDb,
  type LakeRow,
  type LakeTable,
  openLake,
  silverRowsOf,
  silverTables,
} from '@bitvelocity/lakehouse';
import { SilverTestFeed } from '@bitvelocity/lakehouse/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Warehouse } from '../src/index.js';
import { memberKeySql } from '../src/models.js';
import { OPEN_VALID_TO } from '../src/tables.js';

// builds commit to the shared lake; a loaded machine makes a build take seconds
vi.setConfig({ testTimeout: 60_000 });

const config = loadPlatformConfig();
const id = randomUUID().replaceAll('-', '').slice(0, 10);
const silver = silverTables(`test_dd_${id}_silver`, `test_dd_${id}_meta`);
const gold = `test_dd_${id}_gold`;
const T0 = Date.parse('2026-11-20T10:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000);

let lake: DuckDb;
let feed: SilverTestFeed;
let warehouse: Warehouse;

/** A device event as Silver types it (through silverRowsOf, from the envelope the device registry publishes). */
function deviceEvent(
  tenantId: string,
  minute: number,
  fields: { site: string | null; firmware: string; version: number },
  changed?: string[],
): [LakeTable, LakeRow] {
  const device = { deviceId: 'pump-7', name: 'Pump 7', kind: 'pump', ...fields };
  const envelope = createEnvelope({
    eventType: changed ? EVENT_TYPES.deviceUpdated : EVENT_TYPES.deviceRegistered,
    producer: 'device-service',
    tenantId,
    partitionKey: `${tenantId}:${device.deviceId}`,
    traceId: 'a'.repeat(32),
    occurredAt: at(minute),
    payload: changed ? { ...device, changed } : device,
  });
  const [row] = silverRowsOf(envelope, silver);
  if (!row) throw new Error('Silver has no table for the device event');
  return [row[0], { ...row[1], tenant_id: tenantId, _bronze_topic: 'iot.device' }];
}

beforeAll(async () => {
  lake = await openLake(config);
  warehouse = await Warehouse.create({ lake, silver, schema: gold });
  feed = await SilverTestFeed.create(lake, silver);
}, 120_000);

afterAll(async () => {
  for (const schema of [silver.orders.schema, gold])
    await lake?.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  lake?.close();
});

describe('gold.dim_device', () => {
  it('chains the registry’s versions of a device by event time, a late update in its place, a no-op making none, one chain per tenant', async () => {
    const t1 = `tenant-a-${id}`;
    const t2 = `tenant-b-${id}`;
    await feed.land([
      deviceEvent(t1, 0, { site: 'plant-1', firmware: '1.0', version: 1 }),
      deviceEvent(t1, 30, { site: 'plant-2', firmware: '1.0', version: 3 }, ['site']),
      // the same device id in another tenant is another device
      deviceEvent(t2, 5, { site: null, firmware: '2.0', version: 1 }),
    ]);
    await warehouse.runOnce();
    // An update of minute 10 arrives late; an update at minute 40 changes nothing the dimension tracks.
    await feed.land([
      deviceEvent(t1, 10, { site: 'plant-1', firmware: '1.1', version: 2 }, ['firmware']),
      deviceEvent(t1, 40, { site: 'plant-2', firmware: '1.0', version: 4 }, []),
    ]);
    await warehouse.runOnce();

    const rows = await lake.rows<{
      device_key: bigint;
      device_ref: string;
      site: string | null;
      firmware: string;
      valid_from: Date;
      valid_to: Date;
      is_current: boolean;
      version_no: number;
    }>(
      `SELECT device_key, device_ref, site, firmware, valid_from, valid_to, is_current, version_no
         FROM ${gold}.dim_device WHERE device_ref IS NOT NULL ORDER BY device_ref, version_no`,
    );
    const open = new Date(OPEN_VALID_TO.replace(' ', 'T').replace('+00', 'Z'));
    expect(rows.map(({ device_key: _, ...r }) => r)).toEqual([
      {
        device_ref: `${t1}:pump-7`,
        site: 'plant-1',
        firmware: '1.0',
        valid_from: at(0),
        valid_to: at(10),
        is_current: false,
        version_no: 1,
      },
      {
        device_ref: `${t1}:pump-7`,
        site: 'plant-1',
        firmware: '1.1',
        valid_from: at(10),
        valid_to: at(30),
        is_current: false,
        version_no: 2,
      },
      {
        device_ref: `${t1}:pump-7`,
        site: 'plant-2',
        firmware: '1.0',
        valid_from: at(30),
        valid_to: open,
        is_current: true,
        version_no: 3,
      },
      {
        device_ref: `${t2}:pump-7`,
        site: null,
        firmware: '2.0',
        valid_from: at(5),
        valid_to: open,
        is_current: true,
        version_no: 1,
      },
    ]);
    // The first version's surrogate key is md5 of the natural key (deterministic); the keys are distinct.
    const [first] = await lake.rows<{ k: bigint }>(`SELECT ${memberKeySql(`'${t1}:pump-7'`)} AS k`);
    expect(rows[0]?.device_key).toBe(first?.k);
    expect(new Set(rows.map((r) => r.device_key)).size).toBe(4);
    // The unknown member is there for facts that name no device.
    const unknown = await lake.rows(`SELECT device_key, name FROM ${gold}.dim_device WHERE device_ref IS NULL`);
    expect(unknown).toEqual([{ device_key: -1n, name: 'unknown' }]);
    // A full rebuild gives the same rows.
    await warehouse.rebuild();
    const rebuilt = await lake.rows(
      `SELECT device_key, device_ref, site, firmware, valid_from, valid_to, is_current, version_no
         FROM ${gold}.dim_device WHERE device_ref IS NOT NULL ORDER BY device_ref, version_no`,
    );
    expect(rebuilt).toEqual(rows);
  });
});
