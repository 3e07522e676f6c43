import { PassThrough } from 'node:stream'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { bearer, buildApp } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/** The log lines the app writes, parsed, with the one field allowed to name the user left out. */
function captureLogs (): { stream: PassThrough; lines(): Record<string, unknown>[] } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
  const lines = () =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const { userId: _allowed, ...rest } = JSON.parse(line) as Record<string, unknown>
        return rest
      })
  return { stream, lines }
}

forEachDriver(t, async (t, databaseUrl) => {
  const logs = captureLogs()
  const app = await buildApp(t, { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' }, { logStream: logs.stream })
  const user = 'logged-user-8d2e'
  const auth = bearer(user)
  // Rules the API does not know of, so that these writes fail in the database with their values in its words:
  // a check constraint (PostgreSQL's detail quotes the failing row), and a cast that quotes the bad value.
  await app.db.orm.execute(sql`alter table tasks add constraint no_classified_titles check (title <> 'Classified title 7c1f')`)
  await app.db.orm.execute(sql`alter table tasks add constraint cast_titles check (case when title like 'Cast me%' then title::uuid is not null else true end)`)

  for (const title of ['Classified title 7c1f', 'Cast me 5b9a']) {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title } })
    t.equal(response.statusCode, 500, `${title}: refused by the database`)
  }
  await app.inject({ url: '/api/tasks?access_token=secret-token-5f0c&q=private+words+3e1d', headers: auth })

  const lines = logs.lines()
  const text = lines.map((line) => JSON.stringify(line)).join('\n')
  for (const secret of ['7c1f', '5b9a', user, 'secret-token-5f0c', '3e1d']) {
    t.notOk(text.includes(secret), `no log line holds "${secret}"`)
  }
  t.ok(lines.some((line) => /"code":"23514"/.test(JSON.stringify(line)) && JSON.stringify(line).includes('no_classified_titles')), 'the SQLSTATE and the constraint are logged')
  t.ok(lines.some((line) => /"code":"22P02"/.test(JSON.stringify(line))), 'the SQLSTATE of a bad value is logged')
  t.ok(
    lines.some((line) => (line.req as { url?: string } | undefined)?.url === '/api/tasks?access_token=[Redacted]&q=[Redacted]'),
    'the request is logged with its path and the names of its query parameters'
  )
})
