import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A `$ref` to a schema registered with `addSchema` (which requires an `$id`), typed as the schema it points to,
 * so the OpenAPI document names one component while handlers keep their types.
 */
export function ref<T extends TSchema> (schema: T) {
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id as string))
}
