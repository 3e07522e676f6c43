import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifyServerOptions } from 'fastify'

type BuildValidator = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']

const compilers = AjvCompiler()

/**
 * Two Ajv instances. Bodies are JSON with real types and are never coerced (`{"title": 42}` is a 422, not "42");
 * query strings and path parameters are text by nature and are coerced into their declared types (`limit=20`).
 * Unknown properties are refused in both (Fastify's default would silently drop them).
 */
export const buildValidator: BuildValidator = (externalSchemas) => {
  const body = compilers(externalSchemas, { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } })
  const text = compilers(externalSchemas, { customOptions: { coerceTypes: 'array', removeAdditional: false } })
  return (route) => (route.httpPart === 'body' ? body(route) : text(route))
}
