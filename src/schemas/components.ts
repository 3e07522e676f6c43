import { isDeepStrictEqual } from 'node:util'
import { PROBLEM_CONTENT_TYPE } from '../http/problem.js'

/**
 * Makes the OpenAPI document compact without changing what it says. Routes declare their responses, headers
 * and parameters in full, and @fastify/swagger writes them out in full for every operation; here what is said
 * identically in several places is said once, in `components`, and referred to by `$ref`:
 * - a response header with one definition across the document, always sent where declared →
 *   `components.headers.<Name>`, marked `required` (generators type a referenced header as always present);
 *   headers sent only sometimes stay where they are, optional;
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

export interface Repeated {
  /** Problem answers to write once. */
  responses: readonly SharedResponse[]
  /** Response headers sent only sometimes where declared (CORS, paging, replays): left inline, optional. */
  occasionalHeaders: readonly string[]
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
  content?: unknown
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
export function compactDocument<T extends OpenApiDocument> (document: T, repeated: Repeated): T {
  const compact = structuredClone(document)
  const operations = Object.values(compact.paths).flatMap((item) =>
    Object.entries(item).flatMap(([method, operation]) => (METHODS.has(method) ? [operation as Operation] : []))
  )
  const parameters = shareParameters(operations)
  const headers = shareHeaders(operations, repeated.occasionalHeaders)
  const responses = shareResponses(operations, repeated.responses)
  compact.components = { ...compact.components, parameters, headers, responses }
  return compact
}

const isReference = (value: object): value is Reference => '$ref' in value
const reference = (kind: string, name: string): Reference => ({ $ref: `#/components/${kind}/${name}` })
const responsesOf = (operations: Operation[]) =>
  operations.flatMap((operation) =>
    Object.values(operation.responses ?? {}).filter((response): response is Response => !isReference(response))
  )

/** Each header always sent, with a single definition in the document, becomes a component named after it. */
function shareHeaders (operations: Operation[], occasionalHeaders: readonly string[]): Record<string, unknown> {
  const definitions = new Map<string, unknown[]>()
  for (const response of responsesOf(operations)) {
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      if (occasionalHeaders.includes(name)) continue
      const known = definitions.get(name) ?? []
      if (!known.some((definition) => isDeepStrictEqual(definition, header))) definitions.set(name, [...known, header])
    }
  }
  const shared = new Map(
    [...definitions].flatMap(([name, found]) => (found.length === 1 ? [[name, { ...(found[0] as object), required: true }]] : []))
  )
  for (const response of responsesOf(operations)) {
    for (const name of Object.keys(response.headers ?? {})) {
      if (shared.has(name)) response.headers![name] = reference('headers', name)
    }
  }
  return Object.fromEntries(shared)
}

/**
 * Problem answers that say exactly what a shared response says (status, description, headers, body) become
 * references to it. Every operation must write a shared answer alike: one that differs is a mistake, refused.
 */
function shareResponses (operations: Operation[], sharedResponses: readonly SharedResponse[]): Record<string, unknown> {
  const components: Record<string, unknown> = {}
  for (const { name, status, description, schema, headers } of sharedResponses) {
    const body = { [PROBLEM_CONTENT_TYPE]: { schema: reference('schemas', schema) } }
    for (const { responses = {} } of operations) {
      const response = responses[status]
      if (response === undefined || isReference(response) || response.description !== description) continue
      if (!isDeepStrictEqual(Object.keys(response.headers ?? {}), headers) || !isDeepStrictEqual(response.content, body)) continue
      components[name] ??= response
      if (!isDeepStrictEqual(response, components[name])) throw new Error(`The shared response ${name} is written in two ways`)
      responses[status] = reference('responses', name)
    }
  }
  return components
}

/**
 * Parameters taken identically by several operations become components named after the parameter and where
 * it goes (`IfMatchHeader`, `IdPath`); when one name has several definitions, each is prefixed with the first
 * operation that takes it (`ListTasksLimitQuery`).
 */
function shareParameters (operations: Operation[]): Record<string, unknown> {
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
  for (const [, { parameter }] of shared) {
    definitionsPerName.set(baseName(parameter), (definitionsPerName.get(baseName(parameter)) ?? 0) + 1)
  }
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
function pascalCase (words: string): string {
  return words
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')
}
