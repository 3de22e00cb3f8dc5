import type { Db } from '../db/tenant.js';
import { ApiError } from '../http/errors.js';
import { isUniqueViolation, versionConflict } from '../http/request.js';

export interface Product {
  productId: string;
  sku: string;
  name: string;
  category: string;
  price: string;
  currency: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type ProductAttributes = Pick<Product, 'sku' | 'name' | 'category'>;

interface ProductRow {
  product_id: string;
  sku: string;
  name: string;
  category: string;
  price: string;
  currency: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'product_id, sku, name, category, price, currency, version, created_at, updated_at';

const toProduct = (r: ProductRow): Product => ({
  productId: r.product_id,
  sku: r.sku,
  name: r.name,
  category: r.category,
  price: r.price,
  currency: r.currency.trim(),
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

function duplicateSku(error: unknown, sku: string): never {
  if (isUniqueViolation(error)) throw new ApiError('DUPLICATE', `a product with SKU ${sku} exists`, 'body/sku');
  throw error;
}

export async function insertProduct(
  db: Db,
  productId: string,
  input: Omit<Product, 'productId' | 'version' | 'createdAt' | 'updatedAt'>,
): Promise<Product> {
  try {
    const { rows } = await db.query<ProductRow>(
      `INSERT INTO products (tenant_id, product_id, sku, name, category, price, currency)
       VALUES (current_setting('bv.tenant_id'), $1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [productId, input.sku, input.name, input.category, input.price, input.currency],
    );
    return toProduct(rows[0] as ProductRow);
  } catch (error) {
    return duplicateSku(error, input.sku);
  }
}

export async function findProduct(db: Db, productId: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(
    `SELECT ${COLUMNS} FROM products WHERE product_id = $1 AND deleted_at IS NULL`,
    [productId],
  );
  return rows[0] && toProduct(rows[0]);
}

export async function listProducts(
  db: Db,
  filter: { category?: string; after?: string; limit: number },
): Promise<Product[]> {
  const { rows } = await db.query<ProductRow>(
    `SELECT ${COLUMNS} FROM products
     WHERE deleted_at IS NULL AND ($1::text IS NULL OR category = $1) AND ($2::uuid IS NULL OR product_id > $2)
     ORDER BY product_id LIMIT $3`,
    [filter.category ?? null, filter.after ?? null, filter.limit],
  );
  return rows.map(toProduct);
}

/** Locks the product row for the rest of the transaction and checks the client's expected version. */
export async function lockProduct(db: Db, productId: string, expected: number): Promise<Product> {
  const { rows } = await db.query<ProductRow>(
    `SELECT ${COLUMNS} FROM products WHERE product_id = $1 AND deleted_at IS NULL FOR UPDATE`,
    [productId],
  );
  const row = rows[0];
  if (!row) throw new ApiError('NOT_FOUND', `product ${productId} does not exist`);
  if (row.version !== expected) throw versionConflict(row.version, expected);
  return toProduct(row);
}

export async function updateProduct(
  db: Db,
  productId: string,
  changes: Partial<ProductAttributes> & { price?: string },
): Promise<Product> {
  try {
    const { rows } = await db.query<ProductRow>(
      `UPDATE products SET sku = coalesce($2, sku), name = coalesce($3, name), category = coalesce($4, category),
              price = coalesce($5, price), version = version + 1, updated_at = now()
       WHERE product_id = $1 RETURNING ${COLUMNS}`,
      [productId, changes.sku ?? null, changes.name ?? null, changes.category ?? null, changes.price ?? null],
    );
    return toProduct(rows[0] as ProductRow);
  } catch (error) {
    return duplicateSku(error, changes.sku ?? '');
  }
}

export async function softDeleteProduct(db: Db, productId: string): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    'UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now() WHERE product_id = $1 RETURNING version',
    [productId],
  );
  return rows[0]?.version ?? 0;
}
