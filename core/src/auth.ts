import { Ajv } from 'ajv';

/**
 * The claims of the platform's bearer tokens. The services issue them (`POST /auth/token`); every other process that
 * takes them (serving, lineage, notify) verifies the signature with the same secret and the claims with this schema.
 */
export type Role = 'reader' | 'writer' | 'admin' | 'dashboard' | 'analyst';
export const ROLES: readonly Role[] = ['reader', 'writer', 'admin', 'dashboard', 'analyst'];
/** The event envelope's tenantId allows 64 characters; a longer tenant could sign in but never write. */
export const TENANT_MAX_LENGTH = 64;

export interface Principal {
  sub: string;
  tenant: string;
  roles: Role[];
}

/**
 * A signature proves who issued the token, not that its claims have the right shape (a token signed by an older or
 * foreign issuer may not): a missing tenant or `roles` as a string is refused.
 */
const claimsSchema = {
  type: 'object',
  required: ['sub', 'tenant', 'roles'],
  properties: {
    sub: { type: 'string', minLength: 1, maxLength: 200 },
    tenant: { type: 'string', minLength: 1, maxLength: TENANT_MAX_LENGTH, pattern: '^[^\\x00-\\x1f\\x7f]+$' },
    roles: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ROLES] } },
  },
} as const;
const validClaims = new Ajv({ allErrors: false }).compile<Principal>(claimsSchema);

/** What is wrong with a verified token's claims (`/roles must be array`), or undefined when they are a Principal. */
export function tokenClaimsProblem(claims: unknown): string | undefined {
  if (validClaims(claims)) return undefined;
  const first = validClaims.errors?.[0];
  return first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'shape';
}

/** The principal holds the role (admin holds every role). */
export const holdsRole = (principal: Principal, role: Role): boolean =>
  principal.roles.includes(role) || principal.roles.includes('admin');
