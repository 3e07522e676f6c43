import t from 'tap'
import { completeStatement, createStatement, getStatement, listStatement, normalizeSql } from './bench/ceiling-sql.js'
import { bearer, json, type TaskJson } from './support/app.js'
import { buildLoggedApp } from './support/logged-app.js'

/**
 * The benchmark's ceiling (test/bench/ceiling-sql.ts) sends the repository's SQL written out by hand. The bench
 * checks this before it measures; so does this test, on every run: each of the ceiling's statements is one the
 * repository sent (the API logs every statement at `trace`) for the benchmark's requests.
 */
t.test('the ceiling sends the statements the repository sends', async (t) => {
  const { app, lines } = await buildLoggedApp(t, { LOG_LEVEL: 'trace' })
  const user = 'ceiling-sql'
  const auth = bearer(user)
  const created = json<TaskJson>(await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'Bench task', priority: 'high', tags: ['bench'] } }))
  await app.inject({ url: '/api/tasks?limit=20', headers: auth })
  await app.inject({ url: '/api/tasks?status=pending&priority=high&sort=due_date&limit=20', headers: auth })
  await app.inject({ url: `/api/tasks/${created.id}`, headers: auth })
  await app.inject({ method: 'PATCH', url: `/api/tasks/${created.id}/complete`, headers: auth, payload: { completed: true } })
  const logged = new Set(lines.flatMap((line) => (line.msg === 'sql statement' && typeof line.statement === 'string' ? [normalizeSql(line.statement)] : [])))
  const expected = {
    list: listStatement(user, { status: 'all', priority: undefined, sort: 'created', order: 'desc' }, 20),
    'list-filtered': listStatement(user, { status: 'pending', priority: ['high'], sort: 'due_date', order: 'asc' }, 20),
    get: getStatement(user, ''),
    create: createStatement('', user, { title: '', priority: 'high', tags: [] }),
    complete: completeStatement(user, '', ''),
  }
  for (const [name, statement] of Object.entries(expected)) {
    t.ok(logged.has(normalizeSql(statement.text)), `${name}: the ceiling's statement is the repository's`, {
      ceiling: normalizeSql(statement.text),
      logged: [...logged],
    })
  }
})
