import t from 'tap'
import { uuidv7 } from '../src/db/uuidv7.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('a version 7, variant 10 UUID with the time in its first 48 bits', async (t) => {
  const at = Date.UTC(2026, 10, 27, 10, 30, 0, 123)
  const id = uuidv7(at)
  t.match(id, UUID_V7)
  t.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), at, 'the millisecond it was made')
  t.match(uuidv7(), UUID_V7, 'now, by default')
})

t.test('later ids sort later; ids of one millisecond differ', async (t) => {
  const ids = [0, 1, 255, 256, 2 ** 32, 2 ** 47].map((ms) => uuidv7(ms))
  t.same([...ids].sort(), ids, 'ordered as text by their time')
  const sameMillisecond = new Set(Array.from({ length: 10_000 }, () => uuidv7(1_700_000_000_000)))
  t.equal(sameMillisecond.size, 10_000)
})
