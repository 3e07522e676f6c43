import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, json, tokenFor, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'
import { ListCursors } from '../src/routes/tasks/list-cursor.js'

/**
 * SQL and LIKE metacharacters are data, never syntax, on every driver: text full of quotes, comment markers,
 * placeholders, casts, LIKE wildcards, escapes and array punctuation is stored and returned exactly (after the
 * contract's trimming and tag lower-casing), `q` finds it literally, `tag` matches it literally, cursors carry it
 * as data, and list parameters trying to smuggle SQL are a 422 that changes nothing. Result sets are compared
 * exactly, not just status codes.
 */

const USER = 'injector'
const BYSTANDER = 'bystander'

/** Fresh headers per request: a slow run must not outlive tokenFor's one-minute tokens. */
const as = (user: string) => ({ authorization: `Bearer ${tokenFor(user)}` })

interface Input {
  title: string
  description?: string
  tags?: string[]
}

/** No U+0000 anywhere: that is a 422 by contract. `\u0000` and `\x00` below are backslash text, not the character. */
const TASKS: Input[] = [
  { title: "'; drop table tasks; --", description: '" or 1=1 --', tags: ["'; drop table tasks; --", 'SQL'] },
  { title: '" or 1=1 --', tags: ['" or 1=1 --'] },
  { title: "' or '1'='1", description: '$1::text', tags: ["'", '$1'] },
  { title: '%', tags: ['%'] },
  { title: '_', tags: ['_'] },
  { title: '\\', tags: ['\\'] },
  { title: '%_%', tags: ['%_%'] },
  { title: '\\%', tags: ['\\%', '\\'] },
  { title: '\\_', tags: ['\\_'] },
  { title: '100%', description: 'percent sign at the end' },
  { title: 'snake_case', tags: ['snake_case'] },
  { title: 'C:\\temp', tags: ['C:\\Temp'] },
  { title: '$1', description: '$2 $3', tags: ['$1'] },
  { title: '::text', tags: ['::text'] },
  { title: "'||'", tags: ["'||'"] },
  { title: "E'\\x00'", description: '\\x00', tags: ["E'\\x00'"] },
  { title: '\\u0000', tags: ['\\u0000'] },
  { title: '$$ select 1 $$', tags: ['$$'] },
  { title: '/* comment */', description: '-- not a comment', tags: ['/*', '--'] },
  { title: '‘smart’ “quotes”', tags: ['‘', '“'] },
  { title: '{a,"b"}', tags: ['{a,"b"}', '{', '}', ',', '"'] },
  { title: 'NULL', tags: ['NULL', 'null', ' Null '] },
  { title: "O'Reilly", tags: ["O'Reilly"] },
  { title: '[a-z]+ .* ^$', tags: ['[a-z]+', '.*'] },
  { title: '  padded_%  ', description: '   ', tags: ['  Padded  ', 'PADDED'] },
  { title: 'plain task', description: "50% off_sale \\ 'quoted'", tags: ['plain'] },
  { title: 'another plain one' },
]

/**
 * What the contract stores: title and description trimmed (a blank description is none); tags trimmed,
 * lower-cased, de-duplicated in order.
 */
function stored (input: Input): { title: string; description: string | null; tags: string[] } {
  const tags = (input.tags ?? []).map((tag) => tag.trim().toLowerCase())
  return {
    title: input.title.trim(),
    description: input.description?.trim() || null,
    tags: tags.filter((tag, index) => tags.indexOf(tag) === index),
  }
}

const EXPECTED = TASKS.map(stored)

/** `q`, read literally: case-insensitive text in the title or the description. */
const matchesText = (task: { title: string; description: string | null }, q: string) =>
  [task.title, task.description ?? ''].some((text) => text.toLowerCase().includes(q.toLowerCase()))

const sorted = (titles: string[]) => [...titles].sort()
const query = (parameters: Record<string, string | string[]>) =>
  Object.entries(parameters)
    .flatMap(([key, values]) => (Array.isArray(values) ? values : [values]).map((value) => `${key}=${encodeURIComponent(value)}`))
    .join('&')

function assertProblem (t: Test, response: LightMyRequestResponse, status: number, message: string): Record<string, unknown> {
  t.equal(response.statusCode, status, message)
  t.match(response.headers['content-type'], /^application\/problem\+json/, `${message}: problem+json`)
  const problem = json(response)
  t.equal(problem.status, status, `${message}: problem status`)
  return problem
}

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })

  const bystanderTask = json<Task>(
    await app.inject({ method: 'POST', url: '/api/tasks', headers: as(BYSTANDER), payload: { title: "bystander's %_\\ task", tags: ['%'] } })
  )
  const created: Task[] = []
  for (const input of TASKS) {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: as(USER), payload: input })
    t.equal(response.statusCode, 201, `created ${JSON.stringify(input.title)}`)
    created.push(json<Task>(response))
  }
  const idOf = new Map(created.map((task) => [task.title, task.id]))

  /** The titles a list request answers with (limit 500 is one page here), sorted; checked against X-Total-Count. */
  async function titles (t: Test, parameters: Record<string, string | string[]>): Promise<string[]> {
    const response = await app.inject({ url: `/api/tasks?${query({ ...parameters, limit: '500' })}`, headers: as(USER) })
    t.equal(response.statusCode, 200, `GET ?${query(parameters)}`)
    const tasks = json<Task[]>(response)
    t.equal(response.headers['x-total-count'], String(tasks.length), `X-Total-Count of ?${query(parameters)}`)
    return sorted(tasks.map((task) => task.title))
  }

  /** Everything the two users can list, byte for byte. */
  const everything = async () =>
    Promise.all(
      [USER, BYSTANDER].map(async (user) => {
        const response = await app.inject({ url: '/api/tasks?limit=500', headers: as(user) })
        return `${response.statusCode} ${response.headers['x-total-count']} ${response.body}`
      })
    )

  t.test('text is stored and returned exactly, after trimming and tag lower-casing', async (t) => {
    for (const [index, task] of created.entries()) {
      const expected = EXPECTED[index]!
      t.same({ title: task.title, description: task.description, tags: task.tags }, expected, `created ${JSON.stringify(expected.title)}`)
      const read = json<Task>(await app.inject({ url: `/api/tasks/${task.id}`, headers: as(USER) }))
      t.same(read, task, `read back ${JSON.stringify(expected.title)}`)
    }
    const listed = json<Task[]>(await app.inject({ url: '/api/tasks?limit=500', headers: as(USER) }))
    t.same(
      listed
        .map((task) => ({ title: task.title, description: task.description, tags: task.tags }))
        .sort((a, b) => (a.title < b.title ? -1 : 1)),
      [...EXPECTED].sort((a, b) => (a.title < b.title ? -1 : 1)),
      'the list holds exactly what was sent'
    )
  })

  t.test('q matches literally: %, _, \\ and quotes are ordinary characters', async (t) => {
    t.same(await titles(t, { q: '%' }), sorted(['%', '%_%', '\\%', '100%', 'padded_%', 'plain task']), 'q=% only where there is a %')
    t.same(await titles(t, { q: '_' }), sorted(['_', '%_%', '\\_', 'snake_case', 'padded_%', 'plain task']), 'q=_ only where there is an _')
    t.same(await titles(t, { q: '\\' }), sorted(['\\', '\\%', '\\_', 'C:\\temp', "E'\\x00'", '\\u0000', 'plain task']), 'q=\\ only where there is a \\')
    t.same(await titles(t, { q: "'" }), sorted(["'; drop table tasks; --", "' or '1'='1", "'||'", "E'\\x00'", "O'Reilly", 'plain task']), "q=' only where there is a '")
    t.same(await titles(t, { q: '%_%' }), ['%_%'], 'q=%_% is the three characters')
    t.same(await titles(t, { q: '\\%' }), ['\\%'], 'q=\\% is a backslash then a percent sign')
    t.same(await titles(t, { q: '\\_' }), ['\\_'], 'q=\\_ is a backslash then an underscore')
    t.same(await titles(t, { q: '"' }), sorted(['" or 1=1 --', "'; drop table tasks; --", '{a,"b"}']), 'q=" matches titles and descriptions with a double quote')
    t.same(await titles(t, { q: '%%' }), [], 'q=%% matches nothing: no text holds two percent signs in a row')
    t.same(await titles(t, { q: '1=1' }), sorted(['" or 1=1 --', "'; drop table tasks; --"]))
  })

  t.test('q, for every piece of text stored, finds exactly the tasks holding it', async (t) => {
    const probes = new Set<string>([
      ...EXPECTED.flatMap((task) => [task.title, ...(task.description === null ? [] : [task.description])]),
      ...['$', ':', '{', '}', ',', '__', '_%', '%_', '\\\\', "''", '--', ';', '/*', '*', '.', '[', '?', '&', '#', '+', '=', ' ', 'null', "e'\\x", '‘', '“', '$1', '::', '||'],
    ])
    for (const q of probes) {
      const expected = sorted(EXPECTED.filter((task) => matchesText(task, q)).map((task) => task.title))
      t.same(await titles(t, { q }), expected, `q=${JSON.stringify(q)}`)
    }
  })

  t.test('tag matches literally, case-insensitively, and several tags must all be present', async (t) => {
    t.same(await titles(t, { tag: '%' }), ['%'], 'tag=% is only the tag "%"')
    t.same(await titles(t, { tag: '_' }), ['_'], 'tag=_ is only the tag "_"')
    t.same(await titles(t, { tag: '\\' }), sorted(['\\', '\\%']), 'tag=\\ is only the tag "\\"')
    t.same(await titles(t, { tag: 'NULL' }), ['NULL'], 'tag=NULL is the text null, lower-cased')
    t.same(await titles(t, { tag: '  Padded ' }), ['padded_%'], 'the tag filter is trimmed and lower-cased too')
    t.same(await titles(t, { tag: ['{', '}'] }), ['{a,"b"}'])
    t.same(await titles(t, { tag: ['%', '_'] }), [], 'no task carries both')
    const tags = new Set(EXPECTED.flatMap((task) => task.tags))
    for (const tag of tags) {
      const expected = sorted(EXPECTED.filter((task) => task.tags.includes(tag)).map((task) => task.title))
      t.same(await titles(t, { tag }), expected, `tag=${JSON.stringify(tag)}`)
      t.same(await titles(t, { tag: tag.toUpperCase() }), expected, `tag=${JSON.stringify(tag.toUpperCase())}`)
    }
  })

  t.test('updates store the text exactly, and repeating one changes nothing', async (t) => {
    const id = idOf.get('another plain one')!
    for (const input of TASKS.slice(0, 12)) {
      const payload = { title: input.title, description: input.description ?? null, tags: input.tags ?? [] }
      const first = await app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: as(USER), payload })
      t.equal(first.statusCode, 200, `PUT ${JSON.stringify(input.title)}`)
      const task = json<Task>(first)
      t.same({ title: task.title, description: task.description, tags: task.tags }, stored(input), `stored ${JSON.stringify(input.title)}`)
      const again = await app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: as(USER), payload })
      t.equal(again.headers.etag, first.headers.etag, `repeating ${JSON.stringify(input.title)} keeps the ETag`)
      t.equal(json<Task>(again).updated_at, task.updated_at, `repeating ${JSON.stringify(input.title)} keeps updated_at`)
    }
    const restored = await app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: as(USER), payload: { title: 'another plain one', description: null, tags: [] } })
    t.equal(restored.statusCode, 200)
  })

  t.test('completing a recurring task copies its text exactly into the next occurrence', async (t) => {
    const input = { title: "'; drop table tasks; -- %_\\", description: "$1 E'\\x00' {a,\"b\"}", tags: ["'", '%', '\\', '{a,"b"}', 'NULL'] }
    const response = await app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: as(USER),
      payload: { ...input, due_date: '2030-01-31T09:00:00Z', recurrence: 'monthly' },
    })
    t.equal(response.statusCode, 201)
    const task = json<Task>(response)
    const completed = json<Task>(await app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: as(USER) }))
    t.ok(completed.next_task_id, 'a next occurrence was created')
    const next = json<Task>(await app.inject({ url: `/api/tasks/${completed.next_task_id}`, headers: as(USER) }))
    t.same({ title: next.title, description: next.description, tags: next.tags }, stored(input))
    t.equal(next.due_date, '2030-02-28T09:00:00.000Z')

    // A PUT that completes it and changes the text in the same write: the occurrence takes the new text.
    const other = json<Task>(
      await app.inject({ method: 'POST', url: '/api/tasks', headers: as(USER), payload: { title: 'x', due_date: '2030-01-01T00:00:00Z', recurrence: 'daily' } })
    )
    const changes = { title: "O'Reilly \\% $2", description: "'||' ::text", tags: ['$1', "E'\\x00'", ' _ '], completed: true }
    const put = json<Task>(await app.inject({ method: 'PUT', url: `/api/tasks/${other.id}`, headers: as(USER), payload: changes }))
    const spawned = json<Task>(await app.inject({ url: `/api/tasks/${put.next_task_id}`, headers: as(USER) }))
    t.same({ title: spawned.title, description: spawned.description, tags: spawned.tags }, stored(changes))

    for (const id of [task.id, completed.next_task_id, other.id, put.next_task_id]) {
      t.equal((await app.inject({ method: 'DELETE', url: `/api/tasks/${id}`, headers: as(USER) })).statusCode, 204)
    }
  })

  t.test('cursors carry text as data: paging by title through every task', async (t) => {
    for (const order of ['asc', 'desc']) {
      const whole = json<Task[]>(await app.inject({ url: `/api/tasks?sort=title&order=${order}&limit=500`, headers: as(USER) })).map((task) => task.id)
      const paged: string[] = []
      let url: string | undefined = `/api/tasks?sort=title&order=${order}&limit=2`
      while (url !== undefined) {
        const response: LightMyRequestResponse = await app.inject({ url, headers: as(USER) })
        t.equal(response.statusCode, 200, url)
        paged.push(...json<Task[]>(response).map((task) => task.id))
        url = /^<([^>]+)>; rel="next"$/.exec(String(response.headers.link ?? ''))?.[1]
      }
      t.same(paged, whole, `sort=title&order=${order}, two at a time, gives every task once, in order`)
    }
  })

  t.test('a cursor whose key is SQL is data for a text key and a 422 for any other key', async (t) => {
    const whole = json<Task[]>(await app.inject({ url: '/api/tasks?sort=title&limit=500', headers: as(USER) }))
    const start = whole.findIndex((task) => task.title === "'; drop table tasks; --")
    // Cursors are sealed, so a client cannot forge one: these are sealed with the server's own key, as if it had
    // been taken, to show that a cursor's key still reaches SQL as data only.
    const cursors = new ListCursors(app.opaqueTokens)
    const NIL = '00000000-0000-0000-0000-000000000000'
    // The key is that task's own sort key and the id is below every id, so the page starts at that task.
    const forged = cursors.encode(USER, { key: "'; drop table tasks; --", id: NIL }, { sort: 'title', order: 'asc' })
    const page = await app.inject({ url: `/api/tasks?sort=title&limit=500&cursor=${forged}`, headers: as(USER) })
    t.equal(page.statusCode, 200)
    t.same(
      json<Task[]>(page).map((task) => task.title),
      whole.slice(start).map((task) => task.title)
    )
    for (const sort of ['created', 'updated', 'due_date', 'priority']) {
      const order = sort === 'due_date' ? 'asc' : 'desc'
      const cursor = cursors.encode(USER, { key: "1'; drop table tasks; --", id: NIL }, { sort, order })
      const response = await app.inject({ url: `/api/tasks?sort=${sort}&cursor=${cursor}`, headers: as(USER) })
      const problem = assertProblem(t, response, 422, `a sort=${sort} cursor whose key is SQL, not a ${sort} value`)
      t.match(problem.errors, [{ path: '/querystring/cursor' }])
    }
  })

  t.test('list parameters that try to smuggle SQL are a 422 problem and change nothing', async (t) => {
    // One completed task, so that a bulk delete that wrongly went through would show.
    const plain = idOf.get('another plain one')!
    const complete = (completed: boolean) => app.inject({ method: 'PATCH', url: `/api/tasks/${plain}/complete`, headers: as(USER), payload: { completed } })
    t.equal((await complete(true)).statusCode, 200)
    const before = await everything()
    const attempts: [string, string][] = [
      ['sort=title;drop table tasks', '/querystring/sort'],
      ['sort=title desc', '/querystring/sort'],
      ['sort=title,id', '/querystring/sort'],
      ['sort=(select 1)', '/querystring/sort'],
      ["sort=title'--", '/querystring/sort'],
      ['sort=lower(title)', '/querystring/sort'],
      ['sort=1', '/querystring/sort'],
      ['sort=id', '/querystring/sort'],
      ['sort=title&sort=created', '/querystring/sort'],
      ['order=asc,(select 1)', '/querystring/order'],
      ['order=desc;drop table tasks', '/querystring/order'],
      ['order=asc nulls first', '/querystring/order'],
      ["order=desc'--", '/querystring/order'],
      ['sort=title&order=asc;delete from tasks', '/querystring/order'],
      ['limit=1;drop table tasks', '/querystring/limit'],
      ['limit=1 or 1=1', '/querystring/limit'],
      ["status=all' or '1'='1", '/querystring/status'],
      ["priority=high' or 1=1--", '/querystring/priority'],
      ['due_before=2026-01-01T00:00:00Z;drop table tasks', '/querystring/due_before'],
      ["due_after=now()'", '/querystring/due_after'],
      ['cursor=%27%3B%20drop%20table%20tasks%3B%20--', '/querystring/cursor'],
      ['1=1', '/querystring/1'],
    ]
    for (const [raw, path] of attempts) {
      const url = `/api/tasks?${raw.replaceAll(' ', '%20').replaceAll(';', '%3B')}`
      for (const prefix of ['/api/tasks', `/api/${USER}/tasks`]) {
        const response = await app.inject({ url: url.replace('/api/tasks', prefix), headers: as(USER) })
        const problem = assertProblem(t, response, 422, `${prefix}?${raw}`)
        t.ok(
          (problem.errors as { path: string }[] | undefined)?.some((error) => error.path.startsWith(path)),
          `${prefix}?${raw} names ${path}: ${JSON.stringify(problem.errors)}`
        )
      }
    }
    for (const raw of ["status=completed' or '1'='1", 'status=completed;drop table tasks', 'status=completed&status=all', 'status=completed&q=%25']) {
      const response = await app.inject({ method: 'DELETE', url: `/api/tasks?${raw.replaceAll(' ', '%20').replaceAll(';', '%3B')}`, headers: as(USER) })
      assertProblem(t, response, 422, `DELETE ?${raw}`)
    }
    const item = (text: string) => `/api/tasks/${encodeURIComponent(text)}`
    const collection = (user: string) => `/api/${encodeURIComponent(user)}/tasks`
    const paths: ['GET' | 'POST' | 'PUT' | 'DELETE', string, number][] = [
      ['GET', item("'; drop table tasks; --"), 422],
      ['PUT', item("'; drop table tasks; --"), 422],
      ['DELETE', item("'; drop table tasks; --"), 422],
      ['GET', item(`${plain}' or '1'='1`), 422],
      ['DELETE', item(`${plain}' or '1'='1`), 422],
      ['GET', collection("' or 1=1 --"), 403],
      ['POST', collection("' or 1=1 --"), 403],
      ['DELETE', `${collection("' or 1=1 --")}?status=completed`, 403],
      ['GET', collection('%'), 403],
      ['DELETE', `${collection('%')}?status=completed`, 403],
      ['PUT', `${collection(`${USER}'--`)}/${plain}`, 403],
      ['DELETE', `${collection(`${USER}'--`)}/${plain}`, 403],
    ]
    for (const [method, url, status] of paths) {
      const response = await app.inject({ method, url, headers: as(USER), ...((method === 'PUT' || method === 'POST') && { payload: { title: 'pwned' } }) })
      assertProblem(t, response, status, `${method} ${url}`)
    }
    t.same(await everything(), before, 'every task of both users is as it was')
    t.equal((await complete(false)).statusCode, 200)
  })

  t.test('afterwards the table is intact', async (t) => {
    t.same(await titles(t, {}), sorted(EXPECTED.map((task) => task.title)), "the injector's tasks, all of them and only them")
    const bystanders = await app.inject({ url: '/api/tasks', headers: as(BYSTANDER) })
    t.equal(bystanders.headers['x-total-count'], '1')
    t.same(json<Task[]>(bystanders), [bystanderTask], "the bystander's task is untouched")
    const stats = json(await app.inject({ url: '/api/tasks/stats', headers: as(USER) }))
    t.match(stats, { total: TASKS.length, completed: 0, pending: TASKS.length })
  })
})
