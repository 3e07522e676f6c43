import { isDeepStrictEqual } from 'node:util'
import { completeStatement, createStatement, getStatement, listStatement, normalizeSql, type Statement } from './ceiling-sql.js'
import type { Service } from './processes.js'
import type { BenchUser, RequestSpec, Scenario } from './scenarios.js'

/** A finding of the checks below; an empty list means the ceiling does what the API does. */
export type Finding = string

/**
 * Is the ceiling still sending the repository's SQL? Sends one request per scenario to an API started with
 * LOG_LEVEL=trace (which logs every statement Drizzle sends) and looks for each of the ceiling's statements,
 * up to whitespace, among them.
 */
export async function checkSql (tracingApi: Service, user: BenchUser, scenarios: Scenario[]): Promise<Finding[]> {
  for (const scenario of scenarios) await send(tracingApi, scenario.build([user], 0))
  await new Promise((resolve) => setTimeout(resolve, 200))
  const logged = new Set(
    tracingApi
      .output()
      .split('\n')
      .flatMap((line) => {
        try {
          const record = JSON.parse(line) as { msg?: string; statement?: string }
          return record.msg === 'sql statement' && typeof record.statement === 'string' ? [normalizeSql(record.statement)] : []
        } catch {
          return []
        }
      })
  )
  const expected: Record<string, Statement> = {
    list: listStatement(user.id, { status: 'all', priority: undefined, sort: 'created', order: 'desc' }, 20),
    'list-filtered': listStatement(user.id, { status: 'pending', priority: ['high'], sort: 'due_date', order: 'asc' }, 20),
    get: getStatement(user.id, ''),
    create: createStatement('', user.id, { title: '', priority: 'high', tags: [] }),
    complete: completeStatement(user.id, '', ''),
  }
  return scenarios.flatMap((scenario) => {
    const statement = expected[scenario.name]
    if (statement === undefined || logged.has(normalizeSql(statement.text))) return []
    return [`${scenario.name}: the repository no longer sends the ceiling's SQL; update test/bench/ceiling-sql.ts.\n  ceiling: ${normalizeSql(statement.text)}\n  API logged:\n    ${[...logged].join('\n    ')}`]
  })
}

/**
 * Does the ceiling answer as the API does? The same request goes to both (the API first), and the status,
 * the header names, the values of the headers that matter and the body must agree. A write is sent to both:
 * `create` makes two tasks that must agree but for id and timestamps; `complete` on the API completes the
 * task, on the ceiling finds it completed.
 */
export async function checkParity (api: Service, ceiling: Service, users: BenchUser[], scenarios: Scenario[]): Promise<Finding[]> {
  const findings: Finding[] = []
  for (const scenario of scenarios) {
    const spec = scenario.build(users, users.length + 1)
    const [fromApi, fromCeiling] = [await send(api, spec), await send(ceiling, spec)]
    const differ = (what: string, a: unknown, b: unknown) => findings.push(`${scenario.name}: ${what} differs: API ${JSON.stringify(a)}, ceiling ${JSON.stringify(b)}`)
    if (fromApi.status !== fromCeiling.status) differ('status', fromApi.status, fromCeiling.status)
    if (fromApi.status >= 300) findings.push(`${scenario.name}: the API answered ${fromApi.status}: ${fromApi.text.slice(0, 300)}`)
    const names = (answer: Answer) => [...answer.headers.keys()]
    if (!isDeepStrictEqual(names(fromApi), names(fromCeiling))) differ('header names', names(fromApi), names(fromCeiling))
    for (const header of ['content-type', 'x-total-count', 'etag']) {
      if (fromApi.headers.get(header) !== fromCeiling.headers.get(header)) {
        differ(header, fromApi.headers.get(header), fromCeiling.headers.get(header))
      }
    }
    // Cursors are sealed with a random IV, so the Links agree but for the cursor, and the API must take the
    // ceiling's cursor as its own: sealed the same way, with the same key.
    const [apiLink, ceilingLink] = [fromApi, fromCeiling].map((answer) => answer.headers.get('link'))
    const withoutCursor = (link: string | null | undefined) => link?.replace(/cursor=[^&>]*/, 'cursor=…')
    if (withoutCursor(apiLink) !== withoutCursor(ceilingLink)) differ('link', apiLink, ceilingLink)
    else if (apiLink && ceilingLink) {
      const follow = (link: string) => send(api, { method: 'GET', path: /^<([^>]+)>/.exec(link)![1]!, token: spec.token })
      const [own, ceilings] = [await follow(apiLink), await follow(ceilingLink)]
      if (own.status !== 200 || own.text !== ceilings.text) differ('the page after the cursor', `${own.status} ${own.text.slice(0, 300)}`, `${ceilings.status} ${ceilings.text.slice(0, 300)}`)
    }
    if (scenario.name === 'create') {
      const locationShape = (response: Answer) => /^\/api\/tasks\/[0-9a-f-]{36}$/.test(response.headers.get('location') ?? '')
      if (!locationShape(fromApi) || !locationShape(fromCeiling)) differ('location', fromApi.headers.get('location'), fromCeiling.headers.get('location'))
      const stable = (text: string) => {
        const { id: _id, created_at: _created, updated_at: _updated, ...rest } = JSON.parse(text) as Record<string, unknown>
        return rest
      }
      if (!isDeepStrictEqual(stable(fromApi.text), stable(fromCeiling.text))) differ('body', fromApi.text, fromCeiling.text)
    } else if (fromApi.text !== fromCeiling.text) {
      differ('body', fromApi.text.slice(0, 600), fromCeiling.text.slice(0, 600))
    }
  }
  return findings
}

interface Answer {
  status: number
  headers: Headers
  text: string
}

async function send (service: Service, spec: RequestSpec): Promise<Answer> {
  const response = await fetch(`${service.url}${spec.path}`, {
    method: spec.method,
    headers: { authorization: `Bearer ${spec.token}`, ...(spec.body !== undefined && { 'content-type': 'application/json' }) },
    ...(spec.body !== undefined && { body: spec.body }),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: response.status, headers: response.headers, text: await response.text() }
}
