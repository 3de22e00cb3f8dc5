import { randomUUID } from 'node:crypto';

/** One call to the services' HTTP API: JSON in and out, a fresh idempotency key, the bearer token once there is one. */
export type ApiCall = (
  method: string,
  path: string,
  body?: object,
  headers?: Record<string, string>,
) => Promise<Record<string, unknown>>;

/** A client of the services at `base`, signed in as `user` (POST /auth/token). */
export async function apiClient(base: string, user: { username: string; password: string }): Promise<ApiCall> {
  let token = '';
  const call: ApiCall = async (method, path, body, headers = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  token = String((await call('POST', '/auth/token', user)).accessToken);
  return call;
}
