import { Type, type SchemaOptions, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'

/*
 * Choices and nulls written as JSON Schema's `enum` and type lists rather than TypeBox's unions (`anyOf`).
 * SDK generators turn an `enum` into an enum type and `type: [T, 'null']` into a nullable one, OpenAPI 3.1's
 * own way of writing nullable; and the response serializer (fast-json-stringify) writes them directly, where
 * for an `anyOf` it runs a validator per branch for every value it writes.
 */

/** One of these strings. */
export function StringEnum<const T extends readonly string[]> (values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

/** This schema's values or null. The schema has one `type`, such as a string's. */
export function Nullable<T extends TSchema> (schema: T, options: SchemaOptions = {}): TUnsafe<Static<T> | null> {
  // Only the JSON Schema keywords: TypeBox's own symbol-keyed marks describe the non-null schema.
  const { type, enum: values, ...keywords } = Object.fromEntries(Object.entries(schema)) as { type: string; enum?: unknown[] }
  return Type.Unsafe<Static<T> | null>({
    type: [type, 'null'],
    ...keywords,
    ...(values !== undefined && { enum: [...values, null] }),
    ...options,
  })
}
