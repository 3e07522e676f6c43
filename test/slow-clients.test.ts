import t from 'tap'
import { bearer, buildApp, listen } from './support/app.js'
import { answersLikeEveryOther, parseHead, problemIn, REQUEST_ID, trickle } from './support/raw-http.js'

// Its own file: it waits out the real 30 s docs/operations.md promises, beside the other files rather than after them.
t.test('a request trickled in byte by byte is cut off with a 408 when its 30 s are up', async (t) => {
  const server = await buildApp(t)
  const port = Number(new URL(await listen(server)).port)
  const token = bearer('slow-client').authorization
  // Both at once: each takes the full 30 s.
  const [body, headers] = await Promise.all([
    trickle(port, `POST /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"title":"`, 'a', 40_000),
    trickle(port, `GET /api/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\n`, 'X-Slow: 1\r\n', 40_000),
  ])
  for (const [what, { answer, seconds }] of [['a trickled body', body], ['trickled headers', headers]] as const) {
    t.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${what}: 408`)
    if (!answer.startsWith('HTTP/1.1 408')) continue
    t.match(problemIn(answer), { status: 408, title: 'Request Timeout', request_id: REQUEST_ID }, `${what}: a problem document`)
    answersLikeEveryOther(t, parseHead(answer), { api: true }, what)
    // Node looks for expired requests once a second: the answer comes within a second or two of the limit.
    t.ok(seconds >= 29 && seconds <= 35, `${what}: cut off after ${seconds.toFixed(1)} s, when the 30 s were up`)
  }
  const count = await server.inject({ url: '/api/tasks?limit=1', headers: { authorization: token } })
  t.equal(count.headers['x-total-count'], '0', 'the trickled create wrote nothing')
})
