import { isDeepStrictEqual } from 'node:util'
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'

/**
 * Makes the OpenAPI document compact without changing what it says. Routes declare their responses, headers
 * and parameters in full, and @fastify/swagger writes them out in full for every operation; here what is said
 * identically in several places is said once, in `components`, and referred to by `$ref`:
 * - a response header with one definition across the document → `components.headers.<Name>`;
 * - a problem answer given word for word by several operations → `components.responses.<Name>`;
 * - a parameter taken, identically, by several operations → `components.parameters.<Name>`.
 */

/** A problem answer shared by operations: how it is named, and what it says. */
export interface SharedResponse {
  name: string
  status: number
  description: string
  /** The `$id` of the body's schema. */
  schema: string
  /** Its headers, in the order the routes declare them. */
  headers: readonly string[]
}

interface Reference {
  $ref: string
}
interface Parameter {
  name: string
  in: string
}
interface Response {
  description: string
  headers?: Record<string, unknown>
}
interface Operation {
  operationId?: string
  parameters?: (Parameter | Reference)[]
  responses?: Record<string, Response | Reference>
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>
  components?: Record<string, unknown>
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** A copy of the document with what it repeats moved into `components`; the document itself is left alone. */
export function compactDocument<T extends OpenApiDocument>(document: T, sharedResponses: readonly SharedResponse[]): T {
  const compact = structuredClone(document)
  const operations = Object.values(compact.paths).flatMap((item) =>
    Object.entries(item).flatMap(([method, operation]) => (METHODS.has(method) ? [operation as Operation] : [])),
  )
  const parameters = shareParameters(operations)
  const headers = shareHeaders(operations)
  const responses = shareResponses(operations, sharedResponses)
  compact.components = { ...compact.components, parameters, headers, responses }
  return compact
}

const isReference = (value: object): value is Reference => '$ref' in value
const reference = (kind: string, name: string): Reference => ({ $ref: `#/components/${kind}/${name}` })
const responsesOf = (operations: Operation[]) =>
  operations.flatMap((operation) => Object.values(operation.responses ?? {}).filter((response): response is Response => !isReference(response)))

/** Each header name with a single definition in the document becomes a component, referred to by that name. */
function shareHeaders(operations: Operation[]): Record<string, unknown> {
  const definitions = new Map<string, unknown[]>()
  for (const response of responsesOf(operations)) {
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const known = definitions.get(name) ?? []
      if (!known.some((definition) => isDeepStrictEqual(definition, header))) definitions.set(name, [...known, header])
    }
  }
  const shared = Object.fromEntries([...definitions].filter(([, found]) => found.length === 1).map(([name, [header]]) => [name, header]))
  for (const response of responsesOf(operations)) {
    for (const name of Object.keys(response.headers ?? {})) {
      if (name in shared) response.headers![name] = reference('headers', name)
    }
  }
  return shared
}

/** Problem answers written exactly as a shared response says become references to it. Headers are shared first. */
function shareResponses(operations: Operation[], sharedResponses: readonly SharedResponse[]): Record<string, unknown> {
  const components: Record<string, unknown> = {}
  for (const { name, status, description, schema, headers } of sharedResponses) {
    const shared = {
      description,
      headers: Object.fromEntries(headers.map((header) => [header, reference('headers', header)])),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: reference('schemas', schema) } },
    }
    for (const { responses = {} } of operations) {
      if (isDeepStrictEqual(responses[status], shared)) {
        responses[status] = reference('responses', name)
        components[name] = shared
      }
    }
  }
  return components
}

/**
 * Parameters taken identically by several operations become components named after the parameter and where
 * it goes (`IfMatchHeader`, `IdPath`); when one name has several definitions, each is prefixed with the first
 * operation that takes it (`ListTasksLimitQuery`).
 */
function shareParameters(operations: Operation[]): Record<string, unknown> {
  const uses = new Map<string, { parameter: Parameter; operationIds: string[] }>()
  for (const operation of operations) {
    for (const parameter of operation.parameters ?? []) {
      if (isReference(parameter)) continue
      const key = JSON.stringify(parameter)
      const use = uses.get(key) ?? { parameter, operationIds: [] }
      use.operationIds.push(operation.operationId ?? '')
      uses.set(key, use)
    }
  }
  const shared = [...uses].filter(([, { operationIds }]) => operationIds.length > 1)
  const baseName = ({ name, in: location }: Parameter) => pascalCase(name) + pascalCase(location)
  const definitionsPerName = new Map<string, number>()
  for (const [, { parameter }] of shared) definitionsPerName.set(baseName(parameter), (definitionsPerName.get(baseName(parameter)) ?? 0) + 1)
  const names = new Map<string, string>()
  const components: Record<string, unknown> = {}
  for (const [key, { parameter, operationIds }] of shared) {
    const base = baseName(parameter)
    const name = definitionsPerName.get(base) === 1 ? base : pascalCase(operationIds[0]!) + base
    if (name in components) throw new Error(`Two parameters would share the component name ${name}`)
    names.set(key, name)
    components[name] = parameter
  }
  for (const operation of operations) {
    if (operation.parameters === undefined) continue
    operation.parameters = operation.parameters.map((parameter) => {
      const name = isReference(parameter) ? undefined : names.get(JSON.stringify(parameter))
      return name === undefined ? parameter : reference('parameters', name)
    })
  }
  return components
}

/** `if-match` → `IfMatch`, `user_id` → `UserId`, `listTasks` → `ListTasks`. */
function pascalCase(words: string): string {
  return words
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')
}
