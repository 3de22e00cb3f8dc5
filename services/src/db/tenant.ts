import pg from 'pg';

export type Db = pg.PoolClient;

/**
 * Runs `work` in one transaction scoped to a tenant: row-level security shows and accepts only that tenant's rows.
 * Commits when `work` resolves, rolls back when it throws.
 */
export async function inTenantTransaction<T>(
  pool: pg.Pool,
  tenantId: string,
  work: (db: Db) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    // One round trip: the transaction and its tenant (an escaped literal; the simple protocol takes no parameters).
    await client.query(`BEGIN; SELECT set_config('bv.tenant_id', ${pg.escapeLiteral(tenantId)}, true)`);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
