import t from 'tap'
import { bearer, buildApp, json, type TaskJson as Task } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/** The list filters and the due-date and priority orders of contract §5. */
forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const auth = bearer('filterer')
  const seed = [
    { title: 'Pay 100% of rent', priority: 'high', tags: ['home', 'money'], due_date: '2027-01-01T00:00:00Z' },
    { title: 'Buy snacks', description: 'Crisps_and dip', priority: 'low', tags: ['shopping'], due_date: '2027-01-03T00:00:00Z' },
    { title: 'call MUM', priority: 'medium', tags: ['home'] },
    { title: 'File taxes', description: 'before the deadline', priority: 'high', tags: ['money'], due_date: '2027-01-02T00:00:00Z' },
    { title: 'Read', priority: 'low' },
  ]
  for (const payload of seed) await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload })
  await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('someone-else'), payload: { title: 'Pay rent', priority: 'high', tags: ['home'] } })
  const titles = async (query: string) => {
    const response = await app.inject({ url: `/api/tasks?${query}`, headers: auth })
    t.equal(response.statusCode, 200, query)
    return json<Task[]>(response).map((task) => task.title)
  }

  t.test('priority: one, several by repetition or by commas', async (t) => {
    t.same((await titles('priority=high&sort=title')), ['File taxes', 'Pay 100% of rent'])
    t.same((await titles('priority=high&priority=low&sort=title')), ['Buy snacks', 'File taxes', 'Pay 100% of rent', 'Read'])
    t.same((await titles('priority=high,low&sort=title')), ['Buy snacks', 'File taxes', 'Pay 100% of rent', 'Read'])
  })

  t.test('tag: every given tag must be present, case-insensitively', async (t) => {
    t.same(await titles('tag=home&sort=title'), ['call MUM', 'Pay 100% of rent'])
    t.same(await titles('tag=HOME&tag=money'), ['Pay 100% of rent'])
    t.same(await titles('tag=garden'), [])
  })

  t.test('q: case-insensitive, in title or description, % and _ literal', async (t) => {
    t.same(await titles('q=mum'), ['call MUM'])
    t.same(await titles('q=DEADLINE'), ['File taxes'])
    t.same(await titles(`q=${encodeURIComponent('100%')}`), ['Pay 100% of rent'])
    t.same(await titles(`q=${encodeURIComponent('%')}`), ['Pay 100% of rent'], '% matches only a literal %')
    t.same(await titles('q=_'), ['Buy snacks'], '_ matches only a literal _')
    t.same(await titles('q=ri_ps'), [], '_ is not a wildcard (it would match "Crisps")')
  })

  t.test('due_after is inclusive, due_before exclusive; tasks without a due date never match', async (t) => {
    t.same(await titles('due_after=2027-01-02T00:00:00Z&sort=due_date'), ['File taxes', 'Buy snacks'])
    t.same(await titles('due_before=2027-01-02T00:00:00Z'), ['Pay 100% of rent'])
    t.same(await titles('due_after=2027-01-01T00:00:00Z&due_before=2027-01-03T00:00:00Z&sort=due_date'), ['Pay 100% of rent', 'File taxes'])
  })

  t.test('filters combine', async (t) => {
    t.same(await titles('priority=high&tag=money&due_before=2027-01-02T00:00:00Z&q=rent&status=pending'), ['Pay 100% of rent'])
  })

  t.test('sort by due date: soonest first, tasks without one last in both orders', async (t) => {
    const undated = (await titles('sort=title')).filter((title) => ['call MUM', 'Read'].includes(title))
    const ascending = await titles('sort=due_date')
    t.same(ascending.slice(0, 3), ['Pay 100% of rent', 'File taxes', 'Buy snacks'])
    t.same(new Set(ascending.slice(3)), new Set(undated))
    const descending = await titles('sort=due_date&order=desc')
    t.same(descending.slice(0, 3), ['Buy snacks', 'File taxes', 'Pay 100% of rent'])
    t.same(new Set(descending.slice(3)), new Set(undated))
  })

  t.test('sort by priority: most important first by default', async (t) => {
    const tasks = json<Task[]>(await app.inject({ url: '/api/tasks?sort=priority', headers: auth }))
    t.same(tasks.map((task) => task.priority), ['high', 'high', 'medium', 'low', 'low'])
    const ascending = json<Task[]>(await app.inject({ url: '/api/tasks?sort=priority&order=asc', headers: auth }))
    t.same(ascending.map((task) => task.priority), ['low', 'low', 'medium', 'high', 'high'])
    t.same(ascending.map((task) => task.id), tasks.map((task) => task.id).reverse(), 'ties break on id, in the same direction')
  })

  t.test('bad or unknown query parameters are 422 naming the parameter', async (t) => {
    for (const [query, path] of [
      ['status=done', '/querystring/status'],
      ['order=up', '/querystring/order'],
      ['colour=blue', '/querystring/colour'],
      ['priority=urgent', '/querystring/priority'],
      ['priority=high,', '/querystring/priority'],
      ['tag=', '/querystring/tag'],
      ['q=', '/querystring/q'],
      ['due_before=tomorrow', '/querystring/due_before'],
      ['due_after=2027-01-01', '/querystring/due_after'],
      ['sort=colour', '/querystring/sort'],
    ] as const) {
      const response = await app.inject({ url: `/api/tasks?${query}`, headers: auth })
      t.equal(response.statusCode, 422, query)
      t.match(json(response).errors, [{ path: new RegExp(`^${path}`) }], query)
    }
  })
})
