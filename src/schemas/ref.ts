import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A `$ref` to a schema registered with `addSchema`, typed as the schema it points to, so the OpenAPI document
 * names one component while handlers keep their types.
 */
export function ref<T extends TSchema>(schema: T) {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}
