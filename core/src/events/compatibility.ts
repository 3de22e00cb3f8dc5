import type { JsonSchema } from './registry.js';

export interface CompatibilityProblem {
  path: string;
  problem: string;
}

type Schema = JsonSchema & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  additionalProperties?: boolean | Schema;
};

const typesOf = (s: Schema): Set<string> =>
  new Set(s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type]);

/**
 * Backward compatibility of a new schema version: consumers on the new schema must still read every event written
 * with the old one. So the new version may not require a field the old one did not require, narrow a type, drop an
 * enum value, or close a shape the old one left open. Checked before a new version lands (a test runs it over every
 * vN/vN+1 pair).
 */
export function backwardCompatibilityProblems(oldSchema: Schema, newSchema: Schema, path = ''): CompatibilityProblem[] {
  const problems: CompatibilityProblem[] = [];
  const at = path || '/';
  const oldTypes = typesOf(oldSchema);
  const newTypes = typesOf(newSchema);
  if (newTypes.size > 0) {
    for (const type of oldTypes) {
      const widened = type === 'integer' && newTypes.has('number');
      if (!newTypes.has(type) && !widened) problems.push({ path: at, problem: `type ${type} is no longer accepted` });
    }
  }
  if (newSchema.enum) {
    const oldValues = oldSchema.enum ?? (oldSchema.const === undefined ? undefined : [oldSchema.const]);
    if (!oldValues) problems.push({ path: at, problem: 'an enum now restricts a value that was free' });
    else
      for (const value of oldValues)
        if (!newSchema.enum.some((v) => JSON.stringify(v) === JSON.stringify(value)))
          problems.push({ path: at, problem: `enum value ${JSON.stringify(value)} was removed` });
  }
  const oldRequired = new Set(oldSchema.required ?? []);
  for (const name of newSchema.required ?? []) {
    if (!oldRequired.has(name)) problems.push({ path: `${path}/${name}`, problem: 'is newly required' });
  }
  if (oldSchema.additionalProperties !== false && newSchema.additionalProperties === false) {
    problems.push({ path: at, problem: 'no longer accepts additional properties' });
  }
  for (const [name, oldProperty] of Object.entries(oldSchema.properties ?? {})) {
    const newProperty = newSchema.properties?.[name];
    if (!newProperty) {
      if (newSchema.additionalProperties === false) problems.push({ path: `${path}/${name}`, problem: 'was removed' });
      continue;
    }
    problems.push(...backwardCompatibilityProblems(oldProperty, newProperty, `${path}/${name}`));
  }
  if (oldSchema.items && newSchema.items) {
    problems.push(...backwardCompatibilityProblems(oldSchema.items, newSchema.items, `${path}/items`));
  }
  return problems;
}
