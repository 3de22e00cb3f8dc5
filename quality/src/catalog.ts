/**
 * The expectation types the platform accepts, each with a JSON Schema for its kwargs. Most are Great Expectations'
 * own (same name, same kwargs, same semantics); the `bv_` ones are the platform's where GX has no equivalent.
 */

type Schema = Record<string, unknown>;

const column = { type: 'string', minLength: 1 };
const mostly = { type: 'number', minimum: 0, maximum: 1 };
const bound = { type: ['number', 'string', 'null'] };
const columnList = { type: 'array', items: column, minItems: 1, uniqueItems: true };

const kwargs = (required: string[], properties: Record<string, Schema>): Schema => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

export interface ExpectationType {
  /** Compared row by row (unexpected counts and a sample), or on the table as a whole. */
  kind: 'column-map' | 'table';
  /** True when Great Expectations has the same type (and the parity spec compares the two). */
  gx: boolean;
  description: string;
  kwargs: Schema;
}

export const EXPECTATION_TYPES: Record<string, ExpectationType> = {
  expect_column_values_to_not_be_null: {
    kind: 'column-map',
    gx: true,
    description: 'no NULL in the column',
    kwargs: kwargs(['column'], { column, mostly }),
  },
  expect_column_values_to_be_unique: {
    kind: 'column-map',
    gx: true,
    description: 'every non-null value occurs once (every row of a repeated value is unexpected)',
    kwargs: kwargs(['column'], { column, mostly }),
  },
  expect_compound_columns_to_be_unique: {
    kind: 'column-map',
    gx: true,
    description: 'every combination of the columns occurs once (rows whose columns are all NULL are ignored)',
    kwargs: kwargs(['column_list'], {
      column_list: { ...columnList, minItems: 2 },
      mostly,
      ignore_row_if: { enum: ['all_values_are_missing', 'any_value_is_missing', 'never'] },
    }),
  },
  expect_column_values_to_be_between: {
    kind: 'column-map',
    gx: true,
    description: 'non-null values within [min_value, max_value] (strict_* for open bounds)',
    kwargs: {
      ...kwargs(['column'], {
        column,
        min_value: bound,
        max_value: bound,
        strict_min: { type: 'boolean' },
        strict_max: { type: 'boolean' },
        mostly,
      }),
      anyOf: [{ required: ['min_value'] }, { required: ['max_value'] }],
    },
  },
  expect_column_values_to_be_in_set: {
    kind: 'column-map',
    gx: true,
    description: 'non-null values in value_set',
    kwargs: kwargs(['column', 'value_set'], {
      column,
      value_set: { type: 'array', items: { type: ['string', 'number', 'boolean'] }, minItems: 1 },
      mostly,
    }),
  },
  expect_column_values_to_match_regex: {
    kind: 'column-map',
    gx: true,
    description: 'non-null values contain a match of regex (a search, as re.search does; anchor it for a full match)',
    kwargs: kwargs(['column', 'regex'], { column, regex: { type: 'string', minLength: 1 }, mostly }),
  },
  expect_column_value_lengths_to_be_between: {
    kind: 'column-map',
    gx: true,
    description: 'non-null values have a length within [min_value, max_value]',
    kwargs: {
      ...kwargs(['column'], {
        column,
        min_value: { type: 'integer', minimum: 0 },
        max_value: { type: 'integer', minimum: 0 },
        mostly,
      }),
      anyOf: [{ required: ['min_value'] }, { required: ['max_value'] }],
    },
  },
  expect_table_row_count_to_be_between: {
    kind: 'table',
    gx: true,
    description: 'the row count within [min_value, max_value]',
    kwargs: {
      ...kwargs([], { min_value: { type: 'integer', minimum: 0 }, max_value: { type: 'integer', minimum: 0 } }),
      anyOf: [{ required: ['min_value'] }, { required: ['max_value'] }],
    },
  },
  expect_table_row_count_to_equal: {
    kind: 'table',
    gx: true,
    description: 'exactly value rows',
    kwargs: kwargs(['value'], { value: { type: 'integer', minimum: 0 } }),
  },
  expect_column_values_to_be_of_type: {
    kind: 'table',
    gx: true,
    description:
      'the column has type type_: a DuckDB type (BIGINT, VARCHAR, DECIMAL(18,2), ...) or the pandas dtype GX uses (int64, object, ...)',
    kwargs: kwargs(['column', 'type_'], { column, type_: { type: 'string', minLength: 1 } }),
  },
  bv_expect_column_values_to_exist_in_dimension: {
    kind: 'column-map',
    gx: false,
    description:
      'referential integrity: every non-null value is a key of the dimension table ({schema} is the checked table’s schema)',
    kwargs: kwargs(['column', 'dimension', 'dimension_column'], {
      column,
      dimension: { type: 'string', pattern: '^[A-Za-z0-9_{}]+\\.[A-Za-z0-9_]+$' },
      dimension_column: column,
      mostly,
    }),
  },
  bv_expect_table_to_be_fresh: {
    kind: 'table',
    gx: false,
    description: 'freshness: the newest value of a timestamp column is at most max_age_minutes behind now',
    kwargs: kwargs(['column', 'max_age_minutes'], { column, max_age_minutes: { type: 'number', exclusiveMinimum: 0 } }),
  },
  bv_expect_duplicate_key_rate_to_be_below: {
    kind: 'table',
    gx: false,
    description: 'duplicate-key rate: (rows - distinct keys) / rows at most max_rate',
    kwargs: kwargs(['column_list', 'max_rate'], { column_list: columnList, max_rate: { type: 'number', minimum: 0 } }),
  },
  bv_expect_custom_sql_to_return_no_rows: {
    kind: 'column-map',
    gx: false,
    description:
      'custom SQL: a query over {batch} (the table or increment checked) returning the offending rows; success when it returns at most max_unexpected rows',
    kwargs: kwargs(['query'], {
      query: { type: 'string', pattern: '\\{batch\\}' },
      description: { type: 'string' },
      max_unexpected: { type: 'integer', minimum: 0 },
    }),
  },
};

export const SEVERITIES = ['critical', 'warning'] as const;
export type Severity = (typeof SEVERITIES)[number];
