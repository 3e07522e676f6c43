import fc from 'fast-check'
import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/**
 * Listing as a property (contract §5): for random filters, sorts, orders and page sizes, following the `Link`
 * headers from the first page to the last yields exactly what a plain in-memory model of the contract answers,
 * and every page's X-Total-Count is the number of matching tasks.
 */

const PRIORITY_RANK = { low: 1, medium: 2, high: 3 } as const
const SORTS = ['created', 'updated', 'title', 'due_date', 'priority'] as const
const DEFAULT_ORDER = { created: 'desc', updated: 'desc', title: 'asc', due_date: 'asc', priority: 'desc' } as const
const DUE_DATES = [null, '2027-01-01T00:00:00.000Z', '2027-01-02T00:00:00.000Z', '2027-01-03T12:00:00.000Z']
const TAGS = ['a', 'b', 'c']

interface Query {
  status?: 'all' | 'pending' | 'completed'
  priority?: (keyof typeof PRIORITY_RANK)[]
  tag?: string
  q?: string
  due_after?: string
  due_before?: string
  sort?: (typeof SORTS)[number]
  order?: 'asc' | 'desc'
  limit: number
}

/** The contract's listing, written as plainly as possible. */
function model (tasks: Task[], query: Query): Task[] {
  const sort = query.sort ?? 'created'
  const direction = (query.order ?? DEFAULT_ORDER[sort]) === 'asc' ? 1 : -1
  const key = (task: Task): string | number | null =>
    ({
      created: task.created_at,
      updated: task.updated_at,
      title: task.title.toLowerCase(),
      due_date: task.due_date,
      priority: PRIORITY_RANK[task.priority],
    })[sort]
  const compare = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)
  return tasks
    .filter((task) => (query.status ?? 'all') === 'all' || task.completed === (query.status === 'completed'))
    .filter((task) => query.priority === undefined || query.priority.includes(task.priority))
    .filter((task) => query.tag === undefined || task.tags.includes(query.tag))
    .filter((task) => query.q === undefined || `${task.title}\n${task.description ?? ''}`.toLowerCase().includes(query.q.toLowerCase()))
    .filter((task) => query.due_after === undefined || (task.due_date !== null && task.due_date >= query.due_after))
    .filter((task) => query.due_before === undefined || (task.due_date !== null && task.due_date < query.due_before))
    .sort((a, b) => {
      const [ka, kb] = [key(a), key(b)]
      if (ka === null || kb === null) return ka === kb ? direction * compare(a.id, b.id) : ka === null ? 1 : -1
      return direction * (compare(ka, kb) || compare(a.id, b.id))
    })
}

const queries: fc.Arbitrary<Query> = fc.record(
  {
    status: fc.constantFrom('all', 'pending', 'completed'),
    priority: fc.subarray(['low', 'medium', 'high'] as const, { minLength: 1 }),
    tag: fc.constantFrom(...TAGS),
    q: fc.constantFrom('a', 'B', 'ab', 'z'),
    due_after: fc.constantFrom(...DUE_DATES.slice(1)) as fc.Arbitrary<string>,
    due_before: fc.constantFrom(...DUE_DATES.slice(1)) as fc.Arbitrary<string>,
    sort: fc.constantFrom(...SORTS),
    order: fc.constantFrom('asc', 'desc'),
    limit: fc.integer({ min: 1, max: 12 }),
  },
  { requiredKeys: ['limit'] }
)

function toSearch (query: Query): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) {
    if (name === 'priority') params.set(name, (value as string[]).join(','))
    else params.set(name, String(value))
  }
  return params.toString()
}

forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const auth = bearer('pager')
  // Few distinct titles, dates and priorities, so ties (broken by id) are everywhere.
  const seeds = fc.sample(
    fc.record({
      title: fc.constantFrom('a', 'A', 'ab', 'Ba', 'b', 'za'),
      description: fc.constantFrom(null, 'xaby', 'nothing'),
      priority: fc.constantFrom('low', 'medium', 'high'),
      tags: fc.subarray(TAGS),
      due_date: fc.constantFrom(...DUE_DATES),
      completed: fc.boolean(),
    }),
    { numRuns: 40, seed: 42 }
  )
  for (const payload of seeds) await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload })
  await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('someone-else'), payload: { title: 'a' } })
  const stored = json<Task[]>(await app.inject({ url: '/api/tasks?limit=500', headers: auth }))
  t.equal(stored.length, 40)

  t.test('pages followed through Link equal the model, and X-Total-Count counts every match', async (t) => {
    await fc.assert(
      fc.asyncProperty(queries, async (query) => {
        const expected = model(stored, query)
        const seen: Task[] = []
        let url: string | undefined = `/api/tasks?${toSearch(query)}`
        for (let pages = 0; url !== undefined; pages++) {
          const response = await app.inject({ url, headers: auth })
          if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
          if (Number(response.headers['x-total-count']) !== expected.length) throw new Error(`${url}: X-Total-Count ${response.headers['x-total-count']}, expected ${expected.length}`)
          const page = json<Task[]>(response)
          if (page.length > query.limit || pages > expected.length) throw new Error(`${url}: page too long, or pages never end`)
          seen.push(...page)
          const link = response.headers.link as string | undefined
          url = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)![1]
        }
        t.same(seen.map((task) => task.id), expected.map((task) => task.id), toSearch(query))
      }),
      { numRuns: 40, seed: 7 }
    )
  })

  t.test('a Link keeps the path style and the filters', async (t) => {
    const response = await app.inject({ url: '/api/pager/tasks?limit=2&sort=title&tag=a', headers: auth })
    t.match(response.headers.link, /^<\/api\/pager\/tasks\?limit=2&sort=title&tag=a&cursor=[\w-]+>; rel="next"$/)
    const last = await app.inject({ url: '/api/tasks?limit=500', headers: auth })
    t.notOk(last.headers.link, 'no Link on the last page')
    t.equal(last.headers['x-total-count'], '40')
  })

  t.test('pages stay stable while tasks are added and removed', async (t) => {
    const first = await app.inject({ url: '/api/tasks?limit=5&sort=created&order=asc', headers: auth })
    const page1 = json<Task[]>(first)
    // A task created now sorts last in this order; deleting one already shown must not shift the next page.
    await app.inject({ method: 'DELETE', url: `/api/tasks/${page1[0]!.id}`, headers: auth })
    await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'newcomer' } })
    const next = /^<([^>]+)>/.exec(first.headers.link as string)![1]!
    const page2 = json<Task[]>(await app.inject({ url: next, headers: auth }))
    const ascending = [...stored].sort((a, b) =>
      (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1))
    t.same(page2.map((task) => task.id), ascending.slice(5, 10).map((task) => task.id))
  })

  t.test('bad cursors and limits are 422', async (t) => {
    const first = await app.inject({ url: '/api/tasks?limit=2&sort=title', headers: auth })
    const cursor = new URL(`http://x${/^<([^>]+)>/.exec(first.headers.link as string)![1]}`).searchParams.get('cursor')!
    for (const query of [`cursor=${cursor}&sort=created`, `cursor=${cursor}&sort=title&order=desc`, 'cursor=garbage', `cursor=${Buffer.from('{"s":"title","o":"asc","k":1,"i":"x"}').toString('base64url')}&sort=title`]) {
      const response = await app.inject({ url: `/api/tasks?${query}`, headers: auth })
      t.equal(response.statusCode, 422, query)
      t.match(json(response).errors, [{ path: '/querystring/cursor' }])
    }
    // Every byte of a cursor is authenticated, and a cursor is its user's and its listing's only.
    const bytes = Buffer.from(cursor, 'base64url')
    const syncToken = json<{ next: string }>(await app.inject({ url: '/api/tasks/changes', headers: auth })).next
    const refused: [label: string, text: string, headers: Record<string, string>][] = [
      ...Array.from(bytes, (_, index): [string, string, Record<string, string>] => {
        const altered = Buffer.from(bytes)
        altered[index]! ^= 0x01
        return [`byte ${index} altered`, altered.toString('base64url'), auth]
      }),
      ['cut short by a byte', bytes.subarray(0, -1).toString('base64url'), auth],
      ["another user's", cursor, bearer('someone-else')],
      ['a sync token', syncToken, auth],
    ]
    for (const [label, text, headers] of refused) {
      const response = await app.inject({ url: `/api/tasks?sort=title&limit=2&cursor=${text}`, headers })
      t.equal(response.statusCode, 422, label)
      t.match(json(response).errors, [{ path: '/querystring/cursor' }], label)
    }
    for (const query of ['limit=0', 'limit=501', 'limit=ten', 'limit=2.5']) {
      const response = await app.inject({ url: `/api/tasks?${query}`, headers: auth })
      t.equal(response.statusCode, 422, query)
      t.match(json(response).errors, [{ path: '/querystring/limit' }])
    }
  })

  t.test('a page past the end is empty and still counts every match', async (t) => {
    const all = json<Task[]>(await app.inject({ url: '/api/tasks?sort=title&limit=500', headers: auth }))
    const lastTwo = await app.inject({ url: `/api/tasks?sort=title&limit=${all.length - 1}`, headers: auth })
    const next = /^<([^>]+)>/.exec(lastTwo.headers.link as string)![1]!
    await app.inject({ method: 'DELETE', url: `/api/tasks/${all.at(-1)!.id}`, headers: auth })
    const empty = await app.inject({ url: next, headers: auth })
    t.same(json(empty), [])
    t.equal(empty.headers['x-total-count'], String(all.length - 1))
  })
  t.test('the longest sort key still makes a cursor the next request takes', async (t) => {
    // 200 code points of four UTF-8 bytes each: the largest title, and so the largest cursor a page can make.
    const longest = { authorization: bearer('longest-titles').authorization }
    for (const letter of ['\u{1D538}', '\u{1D539}']) {
      const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: longest, payload: { title: letter.repeat(200) } })
      t.equal(created.statusCode, 201)
    }
    const first = await app.inject({ url: '/api/tasks?sort=title&limit=1', headers: longest })
    const next = /^<([^>]+)>/.exec(first.headers.link as string)![1]!
    const second = await app.inject({ url: next, headers: longest })
    t.equal(second.statusCode, 200, `a cursor of ${new URL(next, 'http://x').searchParams.get('cursor')!.length} characters is accepted`)
    t.equal(json<Task[]>(second)[0]?.title, '\u{1D539}'.repeat(200))
  })
})
