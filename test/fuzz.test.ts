import { createHmac } from 'node:crypto'
import { METHODS } from 'node:http'
import fc from 'fast-check'
import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import { DEFAULT_ORDER } from '../src/repositories/tasks.js'
import { buildApp, TEST_SECRET, tokenFor, type TaskJson } from './support/app.js'
import { forEachDriver, type DriverName } from './support/drivers.js'

/**
 * Property-based fuzzing of every endpoint through `app.inject`: arbitrary methods, paths, query strings,
 * headers, bodies and tokens, sent as the user `fuzzer` (or as nobody, or with a forged or broken token).
 * Properties, checked on every answer:
 *  - never a 5xx;
 *  - every answer carries `X-Request-Id` (the caller's when sane, else a fresh UUID), and every 4xx is an
 *    `application/problem+json` document whose `status`, `title`, `detail` and `request_id` are right;
 *  - nothing of the user `victim` (titles, descriptions, tags, ids) appears in an answer unless the request
 *    itself carried it; a request aimed at a victim's task never succeeds; the fuzzer never holds the victim's
 *    token;
 *  - without a valid token no `/api` request succeeds; a task in an answer always belongs to the caller and
 *    carries its timestamps in the wire format (RFC 3339, UTC, milliseconds);
 * and after the run the victim's tasks are byte-for-byte what they were.
 *
 * FUZZ_RUNS sets the number of cases on PGlite (default 500; `npm run fuzz` sets 10000); the server drivers,
 * which only run when TEST_DATABASE_URL is set, take a share of it (see runsFor). FUZZ_SEED replays the run
 * whose seed fast-check printed on failure, with the state that run built up. The requests are stateful (the
 * fuzzer creates, completes and deletes its own tasks), so the counterexample printed is the request that
 * showed the fault, which an earlier one may have caused; the failure message shows request and answer.
 */

const RUNS = integerFromEnv('FUZZ_RUNS', 500, 1)
const SEED = process.env.FUZZ_SEED ? integerFromEnv('FUZZ_SEED', 0, -(2 ** 31)) : undefined

/**
 * Cases for one driver: all of them on PGlite; half on node-postgres and a quarter through the Neon stand-in,
 * so that `npm run fuzz` on all three stays well inside tap's 120 s per file on a busy machine.
 */
function runsFor (driver: DriverName): number {
  return Math.ceil(RUNS / { pglite: 1, 'node-postgres': 2, 'neon-http': 4 }[driver])
}

function integerFromEnv (name: string, fallback: number, minimum: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < minimum) throw new Error(`${name} must be an integer of at least ${minimum}, not ${JSON.stringify(text)}`)
  return value
}

// ---------------------------------------------------------------------------------------------------------
// Users and tokens

const FUZZER = 'fuzzer'
const VICTIM = 'victim'
/** A second legitimate user, whose valid token the fuzzer also uses. */
const BYSTANDER = 'bystander'
type User = typeof FUZZER | typeof BYSTANDER

/** Long enough for the longest run; tokenFor's default minute is not. */
const HOUR_MS = 3_600_000
const nowSeconds = Math.floor(Date.now() / 1000)
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A token built by hand (HMAC-SHA256 with the test secret), for shapes fast-jwt refuses to sign. */
function handMade (payload: object, header: object): string {
  const input = `${base64url(header)}.${base64url(payload)}`
  return `${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`
}

/** The same token with another `sub` in its payload, signature kept: a forgery. */
function withSub (token: string, sub: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as object
  return `${header}.${base64url({ ...claims, sub })}.${signature}`
}

const fuzzerToken = tokenFor(FUZZER, {}, { expiresIn: HOUR_MS })

/** Every token the fuzzer may present, by a name that reads well in a counterexample. Only two are valid. */
const TOKENS = {
  fuzzer: fuzzerToken,
  bystander: tokenFor(BYSTANDER, {}, { expiresIn: HOUR_MS }),
  expired: tokenFor(FUZZER, { iat: nowSeconds - 7200, exp: nowSeconds - 3600 }, { expiresIn: undefined }),
  'not valid before an hour from now': tokenFor(FUZZER, { nbf: nowSeconds + 3600 }, { expiresIn: HOUR_MS }),
  'issued an hour from now': tokenFor(FUZZER, { iat: nowSeconds + 3600 }, { expiresIn: HOUR_MS }),
  'no exp': tokenFor(FUZZER, {}, { expiresIn: undefined }),
  'signed with another secret': tokenFor(FUZZER, {}, { expiresIn: HOUR_MS, key: 'another-secret-that-is-also-32-characters-long' }),
  HS384: tokenFor(FUZZER, {}, { expiresIn: HOUR_MS, algorithm: 'HS384' }),
  HS512: tokenFor(FUZZER, {}, { expiresIn: HOUR_MS, algorithm: 'HS512' }),
  'alg none': createSigner({ algorithm: 'none', expiresIn: HOUR_MS })({ sub: FUZZER }),
  'alg none claiming the victim': createSigner({ algorithm: 'none', expiresIn: HOUR_MS })({ sub: VICTIM }),
  'alg none header over a valid signature': handMade({ sub: FUZZER, exp: nowSeconds + 3600 }, { alg: 'none', typ: 'JWT' }),
  'fuzzer token re-signed claiming the victim': withSub(fuzzerToken, VICTIM),
  'no sub': tokenFor(undefined, {}, { expiresIn: HOUR_MS }),
  'empty sub': tokenFor('', {}, { expiresIn: HOUR_MS }),
  'numeric sub': tokenFor(undefined, { sub: 42 }, { expiresIn: HOUR_MS }),
  'sub of 256 characters': tokenFor('f'.repeat(256), {}, { expiresIn: HOUR_MS }),
  'valid token followed by junk': `${fuzzerToken} junk`,
  'valid token truncated': fuzzerToken.slice(0, -3),
  'three garbage segments': 'abc.def.ghi',
} as const
type TokenName = keyof typeof TOKENS

/** The caller a token names, when the server must accept it. */
const VALID_TOKENS: Partial<Record<TokenName, User>> = { fuzzer: FUZZER, bystander: BYSTANDER }

// ---------------------------------------------------------------------------------------------------------
// What a generated request is: plain data, so a counterexample reads as a request. It is rendered into an
// InjectOptions at run time, when the ids of the tasks that exist are known.

type Owner = 'fuzzer' | 'victim' | 'bystander'
type Spelling = 'as is' | 'upper case' | 'in braces' | 'urn:uuid:' | 'percent-encoded' | 'no hyphens' | 'trailing junk' | 'truncated' | 'twice'
/** `raw` goes into the path as it is; `text` is percent-encoded first. */
type IdSpec =
  | { task: Owner; index: number; spelling: Spelling }
  | { uuid: string; spelling: Spelling }
  | { text: string | Long }
  | { raw: string }
type Route = 'collection' | 'stats' | 'item' | 'complete'
type PathSpec = { route: Route; user: string | Long | null; id: IdSpec | null; suffix: string } | { path: string }
type CursorSpec = { pooled: number } | { sort: string | null; order: string | null; key: unknown; id: string }
type QueryPart = { key: string; value: string | CursorSpec | null } | { raw: string }
type AuthSpec = { token: TokenName; scheme: string } | { header: string } | null
type PayloadSpec = { json: unknown } | { text: string } | { bytes: number[] } | null

interface RequestSpec {
  method: string
  path: PathSpec
  query: QueryPart[]
  auth: AuthSpec
  headers: Record<string, string | Long>
  contentType: string | null
  payload: PayloadSpec
}

/** A very long string that prints as its recipe, so counterexamples stay readable; JSON sees the string. */
class Long {
  constructor (
    readonly unit: string,
    readonly times: number
  ) {}

  get text (): string {
    return this.unit.repeat(this.times)
  }

  toJSON (): string {
    return this.text
  }

  [fc.toStringMethod] (): string {
    return `${JSON.stringify(this.unit)}.repeat(${this.times})`
  }
}
const long = (unit: string, min: number, max: number) => fc.integer({ min, max }).map((times) => new Long(unit, times))
const textOf = (value: string | Long) => (typeof value === 'string' ? value : value.text)

// ---------------------------------------------------------------------------------------------------------
// Small arbitraries

const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 40 })
const anyText = fc.string({ unit: 'binary', maxLength: 40 })
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))

/** Text that SQL, LIKE, JSON, URLs or PostgreSQL arrays could mistake for syntax. */
const NASTY = [
  "'; drop table tasks; --",
  '" or 1=1 --',
  '%',
  '_',
  '\\',
  '%_%',
  '$1',
  '::text',
  "'||'",
  "E'\\x00'",
  '\\u0000',
  '{a,"b"}',
  'NULL',
  ',',
  '‘’“”',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  // eslint-disable-next-line no-template-curly-in-string -- a template-injection probe, sent as text
  '${7*7}',
]
const nasty = fc.constantFrom(...NASTY)

/** Strings for text fields: ordinary, nasty, unstorable (U+0000, lone surrogates), blank, at and past the limits. */
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
  { weight: 2, arbitrary: nasty },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom('\u0000', '\uFEFF', '\u200B', '\r\n', '\t')).map(([a, b]) => a + b + a) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 5 }), loneSurrogate).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '   \n\t ', new Long('😀', 200), new Long('😀', 201), new Long('é', 1000), new Long('x', 1001)) },
  { weight: 1, arbitrary: fc.oneof(long('a', 150, 1100), long('😀', 195, 205), long('x', 60_000, 70_000)) }
)

/** RFC 3339-ish date-times: ordinary, at the edges of what PostgreSQL and JavaScript can hold, and not quite valid. */
const dateText = fc.oneof(
  { weight: 4, arbitrary: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()) },
  { weight: 1, arbitrary: fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((date) => date.toISOString()) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '9999-12-31T23:59:59Z',
      '9999-12-31T23:59:59.999Z',
      '9999-12-31T23:59:59-23:59',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '0001-01-01T00:00:00+01:00',
      '2016-12-31T23:59:60Z',
      '2024-02-29T12:00:00+14:00',
      '2026-02-29T00:00:00Z',
      '2026-01-31T09:00:00.123456789Z',
      '2026-01-01t00:00:00z',
      '2026-01-01 00:00:00Z',
      '2026-01-01T00:00:00',
      '2026-01-01',
      'tomorrow',
      ''
    ),
  }
)

/** Mostly one of `valid`, sometimes one of `invalid`. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: invalid })

const tag = mostly(fc.constantFrom('work', 'home', 'Work', ' WORK ', 'errands', 'urgent', '%', '_', "o'clock"), text)
const tags = fc.oneof(
  { weight: 6, arbitrary: fc.array(tag, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.array(tag, { minLength: 18, maxLength: 45 }) }
)

/** Any JSON value of another type than the field takes. */
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 })
)
/** A field of a task body: mostly of its type, now and then of another; absent as often as `absent` says. */
const field = <T>(valid: fc.Arbitrary<T>, absent = 2) =>
  fc.option(fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: wrongType }), { freq: absent, nil: undefined })

/** A task body that is valid, or nearly: each field may be mutated, and fields the API does not take added. */
const taskBody = fc
  .tuple(
    fc.record({
      title: field(text, 10),
      description: field(fc.oneof(text, fc.constant(null))),
      completed: field(fc.boolean()),
      priority: field(mostly(fc.constantFrom('low', 'medium', 'high'), fc.constantFrom('HIGH', 'urgent', ''))),
      tags: field(tags),
      due_date: field(fc.oneof(dateText, fc.constant(null))),
      recurrence: field(mostly(fc.constantFrom('daily', 'weekly', 'monthly', 'yearly', null), fc.constantFrom('hourly', 'Daily'))),
    }),
    fc.oneof(
      { weight: 8, arbitrary: fc.constant({}) },
      {
        weight: 1,
        arbitrary: fc.dictionary(
          fc.constantFrom('id', 'user_id', 'version', 'next_task_id', 'completed_at', 'created_at', '__proto__', 'constructor', 'Title', ''),
          fc.oneof(fc.uuid(), fc.string(), fc.integer(), fc.constant(VICTIM)),
          { minKeys: 1, maxKeys: 2 }
        ),
      }
    )
  )
  // Computed keys make own properties, so `__proto__` is sent as a field, as an attacker would send it.
  .map(([fields, extra]) => Object.fromEntries([
    ...Object.entries(fields).filter(([, value]) => value !== undefined),
    ...Object.entries(extra),
  ]))

const completionBody = fc.oneof(
  fc.record({ completed: field(fc.boolean()) }),
  fc.constantFrom<unknown>({}, { completed: 'true' }, { completed: true, title: 'x' }, null, [], 'true', true, 0)
)

const brokenJson = fc.constantFrom('{', '{"title":', '{"title": "a",}', "{'title': 'a'}", '{"title": "a"}}', '[1,', 'nul', '"\\ud800"', '{"title":"\\u0000"}', '\uFEFF{"title":"a"}', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]')
/** Any body at all: a task, a completion, any JSON value, broken JSON, text, bytes, or none. */
const anyPayload: fc.Arbitrary<PayloadSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 5, arbitrary: taskBody.map((json) => ({ json })) },
  { weight: 2, arbitrary: completionBody.map((json) => ({ json })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((json) => ({ json })) },
  { weight: 2, arbitrary: fc.oneof(brokenJson, fc.constantFrom('', 'title=a&completed=true', '<task><title>a</title></task>'), anyText).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 32 }).map((bytes) => ({ bytes })) }
)

const anyContentType = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      null,
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/json;',
      'application/json; charset=latin1',
      'application/problem+json',
      'application/merge-patch+json',
      'text/plain',
      'text/html',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '*/*'
    ),
  },
  { weight: 1, arbitrary: printable }
)

/** Our ETags are `"<version>"`; versions start at 1 and grow by one per change. */
const etags = fc.oneof(
  fc.integer({ min: 1, max: 6 }).map((version) => `"${version}"`),
  fc.constantFrom('*', ' * ', 'W/"1"', '"1", "2", "3"', '"abc"', '1', '""', '"0"', '"99999999999"', ','),
  printable,
  long('"1",', 200, 300)
)

/** Sane ids are echoed; anything else (too long, odd characters, Latin-1) is replaced by a fresh UUID. */
const requestId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
  fc.constantFrom<string | Long>('', ' ', 'a b', new Long('x', 129), 'ïd', 'id\t', '<script>', 'a"b'),
  printable
)

const extraHeader = fc.constantFrom<[string, string]>(
  ['origin', 'http://localhost:3000'],
  ['origin', 'https://evil.example'],
  ['access-control-request-method', 'DELETE'],
  ['cookie', `token=${fuzzerToken}; access_token=${fuzzerToken}`],
  ['accept', 'application/xml'],
  ['accept-encoding', 'gzip, br'],
  ['x-forwarded-for', '10.0.0.1'],
  ['x-http-method-override', 'DELETE'],
  ['x-user-id', VICTIM],
  ['content-encoding', 'gzip'],
  ['if-modified-since', 'Wed, 21 Oct 2015 07:28:00 GMT'],
  ['range', 'bytes=0-10']
)

/** Mostly `null` (leave it as the endpoint has it), sometimes a value from `arbitrary`. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, weight = 1): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 10, arbitrary: fc.constant(null) }, { weight, arbitrary })

const headers = fc
  .tuple(sometimes(etags, 2), sometimes(etags, 2), sometimes(requestId, 4), fc.array(extraHeader, { maxLength: 2 }))
  .map(([ifMatch, ifNoneMatch, id, extra]) => {
    const known = { 'if-match': ifMatch, 'if-none-match': ifNoneMatch, 'x-request-id': id }
    return Object.fromEntries([...extra, ...Object.entries(known).filter(([, value]) => value !== null)]) as Record<string, string | Long>
  })

const auth: fc.Arbitrary<AuthSpec> = fc.oneof(
  { weight: 14, arbitrary: fc.constant({ token: 'fuzzer' as TokenName, scheme: 'Bearer ' }) },
  { weight: 2, arbitrary: fc.constant({ token: 'bystander' as TokenName, scheme: 'Bearer ' }) },
  { weight: 2, arbitrary: fc.record({ token: fc.constantFrom(...(Object.keys(TOKENS) as TokenName[])), scheme: fc.constantFrom('Bearer ', 'bearer ', 'BEARER   ', 'Bearer', 'Token ', 'Basic ') }) },
  { weight: 1, arbitrary: fc.oneof(printable, fc.constantFrom('Bearer', 'Bearer ', 'Basic YWxpY2U6cGFzc3dvcmQ=')).map((header) => ({ header })) },
  { weight: 1, arbitrary: fc.constant(null) }
)

const spelling = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Spelling>('as is') },
  { weight: 2, arbitrary: fc.constantFrom<Spelling>('upper case', 'in braces', 'urn:uuid:', 'percent-encoded', 'no hyphens', 'trailing junk', 'truncated', 'twice') }
)

/** A task id: one of the fuzzer's tasks, one of another user's, a random UUID, or junk. */
const taskId: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ task: fc.constant<Owner>('fuzzer'), index: fc.nat(), spelling }) },
  { weight: 3, arbitrary: fc.record({ task: fc.constant<Owner>('victim'), index: fc.nat(), spelling }) },
  { weight: 1, arbitrary: fc.record({ task: fc.constant<Owner>('bystander'), index: fc.nat(), spelling }) },
  { weight: 2, arbitrary: fc.record({ uuid: fc.oneof(fc.uuid(), fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')), spelling }) },
  { weight: 2, arbitrary: fc.oneof(printable, anyText, nasty, long('a', 37, 5000)).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.constantFrom('%zz', '%00', '%E0%A4%A', '..', '.', '%2e%2e', 'stats', 'null', '-1', '1e3').map((raw) => ({ raw })) }
)

const otherPath: fc.Arbitrary<PathSpec> = fc
  .oneof(
    fc.constantFrom(
      '/health',
      '/ready',
      '/docs/json',
      '/',
      '/api',
      '/api/',
      '/api/tasks/',
      '/api//tasks',
      '//api/tasks',
      '/API/TASKS',
      '/api/./tasks',
      '/api/../api/tasks',
      '/api/tasks%2Fstats',
      '/api/%74asks',
      '/api/tasks/stats/',
      '/api/tasks/changes',
      '/health/',
      '/.env',
      '/docs/static/../../package.json',
      '/%zz'
    ),
    fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
    printable.map((segment) => `/api/${segment}`)
  )
  .map((path) => ({ path }))

const SORTS = ['created', 'updated', 'title', 'due_date', 'priority'] as const

/** A cursor: one the server handed out earlier, or forged (by default for the request's own sort and order). */
const cursor: fc.Arbitrary<CursorSpec> = fc.oneof(
  fc.record({ pooled: fc.nat() }),
  fc.record({
    sort: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...SORTS, 'x') }),
    order: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('asc', 'desc', 'x') }),
    key: fc.oneof(
      fc.constant(null),
      dateText,
      fc.constantFrom('1', '2', '3', '1.5', '-1', '99999999999', 'abc', ''),
      nasty,
      anyText,
      fc.integer(),
      fc.constant(['a'])
    ),
    id: fc.oneof(fc.uuid(), printable),
  })
)

const listParameter: fc.Arbitrary<QueryPart> = fc.oneof(
  fc.record({ key: fc.constant('status'), value: mostly(fc.constantFrom('all', 'pending', 'completed'), fc.constantFrom('done', '', 'ALL')) }),
  fc.record({ key: fc.constant('priority'), value: mostly(fc.constantFrom('low', 'medium', 'high', 'high,low'), fc.constantFrom('low,low,low', 'HIGH', ',', '')) }),
  fc.record({ key: fc.constant('tag'), value: tag.map(textOf) }),
  fc.record({ key: fc.constant('q'), value: mostly(fc.constantFrom('fuzz', 'o', 'VICTIM', 'a'), text.map(textOf)) }),
  fc.record({ key: fc.constantFrom('due_before', 'due_after'), value: dateText }),
  fc.record({ key: fc.constant('sort'), value: mostly(fc.constantFrom(...SORTS), fc.constantFrom('title;drop table tasks', 'title desc', 'TITLE', 'id', '')) }),
  fc.record({ key: fc.constant('order'), value: mostly(fc.constantFrom('asc', 'desc'), fc.constantFrom('ASC', 'asc,(select 1)', '')) }),
  fc.record({ key: fc.constant('limit'), value: mostly(fc.integer({ min: 1, max: 20 }).map(String), fc.oneof(fc.integer({ min: -5, max: 600 }).map(String), fc.constantFrom('1e2', '0x10', '10abc', ' 5', '', '1.5'))) }),
  fc.record({ key: fc.constant('cursor'), value: cursor })
)
const junkParameter: fc.Arbitrary<QueryPart> = fc.oneof(
  fc.record({
    key: fc.oneof(fc.constantFrom('access_token', 'token', 'user_id', 'id', '__proto__', 'constructor', 'limit[]', 'sort[0]', 'SORT', ''), printable),
    value: fc.oneof(fc.constant(null), fc.constant(VICTIM), printable, anyText),
  }),
  fc.constantFrom('&', '&&', '=', '==', '?', '%zz', 'q=%E0%A4%A', 'q=%00', 'tag=%FF', 'q=%ED%A0%80', 'q=a+b', 'limit=%31', 'status').map((raw) => ({ raw }))
)
const listQuery = fc.array(fc.oneof({ weight: 8, arbitrary: listParameter }, { weight: 1, arbitrary: junkParameter }), { maxLength: 5 })
const anyQuery = fc.array(fc.oneof(listParameter, junkParameter), { minLength: 1, maxLength: 4 })
const noQuery = fc.constant<QueryPart[]>([])
const clearQuery = fc.oneof(
  { weight: 5, arbitrary: fc.constant<QueryPart[]>([{ key: 'status', value: 'completed' }]) },
  { weight: 1, arbitrary: anyQuery }
)

const anyMethod = fc.constantFrom(...METHODS)

const json = (body: fc.Arbitrary<unknown>): fc.Arbitrary<PayloadSpec> => body.map((value) => ({ json: value }))
const noBody = fc.constant<PayloadSpec>(null)
const completionPayload = fc.oneof({ weight: 2, arbitrary: noBody }, { weight: 3, arbitrary: json(completionBody) }, { weight: 1, arbitrary: fc.constant({ text: '' }) })

/** The `{user_id}` of the owner-in-path style: mostly the fuzzer, sometimes anyone else. */
const userSegment = fc.oneof(
  { weight: 6, arbitrary: fc.constant(FUZZER) },
  { weight: 3, arbitrary: fc.constantFrom<string | Long>(VICTIM, BYSTANDER, 'FUZZER', 'tasks', 'fuzzer ', 'fuzzer\u0000', 'fuzzér', '', new Long('f', 256)) },
  { weight: 1, arbitrary: anyText }
)

const pathTo = (route: Route): fc.Arbitrary<PathSpec> =>
  fc.record({
    route: fc.constant(route),
    user: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: userSegment }),
    id: route === 'item' || route === 'complete' ? taskId : fc.constant(null),
    suffix: fc.oneof({ weight: 20, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/x', '/complete', '%2F', ';x=1', '.json', '/stats', '#fragment') }),
  })

/** One endpoint of the API, called roughly as documented: its method, path, query and kind of body. */
const endpoint = (method: string, route: Route, query: fc.Arbitrary<QueryPart[]>, payload: fc.Arbitrary<PayloadSpec>) =>
  fc.record({ method: fc.constant(method), path: pathTo(route), query, payload })

const endpoints = fc.oneof(
  { weight: 4, arbitrary: endpoint('GET', 'collection', listQuery, noBody) },
  { weight: 3, arbitrary: endpoint('POST', 'collection', noQuery, json(taskBody)) },
  { weight: 1, arbitrary: endpoint('DELETE', 'collection', clearQuery, noBody) },
  { weight: 1, arbitrary: endpoint('GET', 'stats', noQuery, noBody) },
  { weight: 2, arbitrary: endpoint('GET', 'item', noQuery, noBody) },
  { weight: 3, arbitrary: endpoint('PUT', 'item', noQuery, json(taskBody)) },
  { weight: 1, arbitrary: endpoint('DELETE', 'item', noQuery, noBody) },
  { weight: 3, arbitrary: endpoint('PATCH', 'complete', noQuery, completionPayload) },
  { weight: 1, arbitrary: fc.record({ method: fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST'), path: otherPath, query: noQuery, payload: noBody }) }
)

/**
 * A request: an endpoint called roughly as documented, then, now and then, another method, query, body or
 * content type in place of the documented one, plus arbitrary headers and credentials.
 */
const request: fc.Arbitrary<RequestSpec> = fc
  .record({
    endpoint: endpoints,
    method: sometimes(anyMethod),
    query: sometimes(anyQuery),
    payload: sometimes(anyPayload),
    contentType: sometimes(anyContentType.map((value) => ({ value }))),
    auth,
    headers,
  })
  .map(({ endpoint, method, query, payload, contentType, auth, headers }) => {
    const body = payload ?? endpoint.payload
    return {
      method: method ?? endpoint.method,
      path: endpoint.path,
      query: query ?? endpoint.query,
      auth,
      headers,
      contentType: contentType === null ? (body === null ? null : 'application/json') : contentType.value,
      payload: body,
    }
  })

// ---------------------------------------------------------------------------------------------------------
// Rendering a spec into a request, against what exists now

/** What the run has seen: ids of each user's tasks, cursors the server handed out. */
interface World {
  ids: Record<Owner, string[]>
  cursors: string[]
}

const MAX_POOL = 400

interface Rendered {
  options: InjectOptions
  /** Whose valid token the request carries, if any. */
  caller: User | undefined
  /** The request aims at one of the victim's tasks by id. */
  targetsVictim: boolean
  /** Everything the request carried, decoded and lower-cased: what an answer may echo back. */
  sent: string
  /** For messages: the request without its tokens. */
  description: string
}

const percentEncodeAll = (text: string) => [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('')

/** encodeURIComponent, except that a lone surrogate goes out as U+FFFD, as a real client's UTF-8 would send it. */
function encode (text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return percentEncodeAll(text)
  }
}

function spell (id: string, spelling: Spelling): string {
  switch (spelling) {
    case 'as is':
      return id
    case 'upper case':
      return id.toUpperCase()
    case 'in braces':
      return `%7B${id}%7D`
    case 'urn:uuid:':
      return `urn:uuid:${id}`
    case 'percent-encoded':
      return percentEncodeAll(id)
    case 'no hyphens':
      return id.replaceAll('-', '')
    case 'trailing junk':
      return `${id}'%20or%201=1--`
    case 'truncated':
      return id.slice(0, 35)
    case 'twice':
      return `${id}${id}`
  }
}

function renderId (spec: IdSpec, world: World): { segment: string; victim: boolean } {
  if ('raw' in spec) return { segment: spec.raw, victim: false }
  if ('text' in spec) return { segment: encode(textOf(spec.text)), victim: false }
  if ('uuid' in spec) return { segment: spell(spec.uuid, spec.spelling), victim: false }
  const pool = world.ids[spec.task]
  const id = pool.length === 0 ? '00000000-0000-7000-8000-000000000000' : pool[spec.index % pool.length]!
  return { segment: spell(id, spec.spelling), victim: spec.task === 'victim' }
}

function renderPath (spec: PathSpec, world: World): { path: string; victim: boolean } {
  if ('path' in spec) return { path: spec.path, victim: false }
  const base = spec.user === null ? '/api/tasks' : `/api/${encode(textOf(spec.user))}/tasks`
  if (spec.route === 'stats') return { path: `${base}/stats${spec.suffix}`, victim: false }
  if (spec.route === 'collection' || spec.id === null) return { path: base + spec.suffix, victim: false }
  const { segment, victim } = renderId(spec.id, world)
  return { path: `${base}/${segment}${spec.route === 'complete' ? '/complete' : ''}${spec.suffix}`, victim }
}

/** The sort and order a list request asks for, as the server will read them, so a forged cursor can match. */
function orderingOf (parts: QueryPart[]): { sort: string; order: string } {
  const values = (key: string) => parts.flatMap((part) => ('key' in part && part.key === key && typeof part.value === 'string' ? [part.value] : []))
  const [sort] = values('sort')
  const [order] = values('order')
  const known = (SORTS as readonly string[]).includes(sort ?? '') ? (sort as (typeof SORTS)[number]) : 'created'
  return { sort: known, order: order ?? DEFAULT_ORDER[known] }
}

function renderCursor (spec: CursorSpec, parts: QueryPart[], world: World): string {
  if ('pooled' in spec) return world.cursors.length === 0 ? 'no-cursor-yet' : world.cursors[spec.pooled % world.cursors.length]!
  const ordering = orderingOf(parts)
  return base64url({ s: spec.sort ?? ordering.sort, o: spec.order ?? ordering.order, k: spec.key, i: spec.id })
}

function renderQuery (parts: QueryPart[], world: World): string {
  return parts
    .map((part) => {
      if ('raw' in part) return part.raw
      const key = encode(part.key)
      if (part.value === null) return key
      const value = typeof part.value === 'string' ? part.value : renderCursor(part.value, parts, world)
      return `${key}=${encode(value)}`
    })
    .join('&')
}

function renderPayload (spec: PayloadSpec): string | Buffer | undefined {
  if (spec === null) return undefined
  if ('json' in spec) return JSON.stringify(spec.json)
  if ('text' in spec) return spec.text
  return Buffer.from(spec.bytes)
}

/** Percent-decodes what decodes, leaves the rest: what the router and the query parser would see. */
function lenientDecode (text: string): string {
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run)
    } catch {
      return run
    }
  })
}

function render (spec: RequestSpec, world: World): Rendered {
  const { path, victim } = renderPath(spec.path, world)
  const query = renderQuery(spec.query, world)
  const url = query === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${query}`
  const headers: Record<string, string> = Object.fromEntries(Object.entries(spec.headers).map(([name, value]) => [name, textOf(value)]))
  if (spec.contentType !== null) headers['content-type'] = spec.contentType
  let caller: User | undefined
  if (spec.auth !== null && 'token' in spec.auth) {
    headers.authorization = `${spec.auth.scheme}${TOKENS[spec.auth.token]}`
    if (/^bearer +$/i.test(spec.auth.scheme)) caller = VALID_TOKENS[spec.auth.token]
  } else if (spec.auth !== null) {
    headers.authorization = spec.auth.header
  }
  const payload = renderPayload(spec.payload)
  const payloadText = payload === undefined ? '' : payload.toString()
  const sent = [lenientDecode(url.replaceAll('+', ' ')), ...Object.values(headers), payloadText].join('\n').toLowerCase()
  const shownHeaders = { ...headers, ...(spec.auth !== null && 'token' in spec.auth && { authorization: `${spec.auth.scheme}<${spec.auth.token} token>` }) }
  const shownPayload = payloadText.length > 300 ? `${payloadText.slice(0, 300)}… (${payloadText.length} characters)` : payloadText
  const description = `${spec.method} ${url.length > 300 ? `${url.slice(0, 300)}…` : url}\n    headers: ${JSON.stringify(shownHeaders)}\n    payload: ${JSON.stringify(shownPayload)}`
  return {
    options: { method: spec.method as InjectOptions['method'], url, headers, ...(payload !== undefined && { payload }) },
    caller,
    targetsVictim: victim,
    sent,
    description,
  }
}

// ---------------------------------------------------------------------------------------------------------
// The properties every single answer must have

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const WIRE_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The response headers a failure report shows (the security headers are the same on every answer). */
const SHOWN_HEADERS = ['content-type', 'x-request-id', 'etag', 'location', 'link', 'x-total-count', 'www-authenticate', 'allow']

function check (request: Rendered, response: LightMyRequestResponse, secrets: string[]): void {
  const fail = (why: string): never => {
    const body = response.body.length > 600 ? `${response.body.slice(0, 600)}…` : response.body
    const shown = Object.fromEntries(Object.entries(response.headers).filter(([name]) => SHOWN_HEADERS.includes(name)))
    throw new Error(`${why}\n  request: ${request.description}\n  response: ${response.statusCode} ${JSON.stringify(shown)}\n    ${body}`)
  }
  const status = response.statusCode
  const method = request.options.method as string
  if (status >= 500) fail(`a ${status} answer`)

  const requestId = response.headers['x-request-id']
  if (typeof requestId !== 'string') fail('no X-Request-Id header')
  const sentId = (request.options.headers as Record<string, string>)['x-request-id']
  if (sentId !== undefined && SANE_REQUEST_ID.test(sentId)) {
    if (requestId !== sentId) fail(`X-Request-Id ${requestId} is not the sane one sent, ${sentId}`)
  } else if (!UUID.test(requestId as string)) {
    fail(`X-Request-Id ${requestId} is neither the one sent nor a fresh UUID`)
  }

  if (status >= 400) {
    if (!/^application\/problem\+json(;|$)/.test(String(response.headers['content-type']))) fail('a 4xx that is not application/problem+json')
    if (method === 'HEAD') {
      if (response.body !== '') fail('a body on a HEAD answer')
    } else {
      let problem: Record<string, unknown>
      try {
        problem = JSON.parse(response.body) as Record<string, unknown>
      } catch {
        return fail('a problem document that is not JSON')
      }
      if (problem.status !== status) fail(`problem.status ${JSON.stringify(problem.status)} is not the status code`)
      if (typeof problem.title !== 'string' || problem.title === '') fail('problem.title is missing')
      if (typeof problem.detail !== 'string' || problem.detail === '') fail('problem.detail is missing')
      if (problem.request_id !== requestId) fail('problem.request_id is not the X-Request-Id header')
    }
  }

  // What leaks is what the caller did not already know: an answer may echo the request, nothing more.
  const answer = `${JSON.stringify(response.headers)}\n${response.body}`.toLowerCase()
  for (const secret of secrets) {
    if (answer.includes(secret) && !request.sent.includes(secret)) fail(`the answer holds the victim's ${JSON.stringify(secret)}`)
  }
  // A CORS preflight (OPTIONS) is answered before any route: it touches no task and needs no token.
  const success = status < 400 && method !== 'OPTIONS'
  if (success && request.targetsVictim) fail("a request aimed at the victim's task succeeded")
  const url = request.options.url as string
  const isApi = /^\/api(\/|$|\?)/i.test(url)
  if (success && isApi && request.caller === undefined) fail('an /api request without a valid token succeeded')

  // A task in an answer belongs to the caller and has its timestamps in the wire format.
  if (success && isApi && /^application\/json/.test(String(response.headers['content-type'])) && response.body !== '') {
    const body = JSON.parse(response.body) as unknown
    for (const task of (Array.isArray(body) ? body : [body]) as Partial<TaskJson>[]) {
      if (typeof task !== 'object' || task === null || !('id' in task)) continue
      if (task.user_id !== request.caller) fail(`task ${task.id} of ${JSON.stringify(task.user_id)} answered to ${request.caller}`)
      for (const name of ['created_at', 'updated_at', 'completed_at', 'due_date'] as const) {
        const value = task[name]
        if (value !== null && !(typeof value === 'string' && WIRE_TIMESTAMP.test(value))) {
          fail(`task ${task.id}: ${name} ${JSON.stringify(value)} is not an RFC 3339 UTC timestamp with milliseconds: ${JSON.stringify(task)}`)
        }
      }
    }
  }
}

/** Remembers the tasks the answer names and the cursors it hands out, so later requests can use them. */
function learn (request: Rendered, response: LightMyRequestResponse, world: World): void {
  if (request.caller === undefined || response.statusCode >= 300) return
  const link = response.headers.link
  const cursor = typeof link === 'string' ? /[?&]cursor=([^&>]+)/.exec(link)?.[1] : undefined
  if (cursor !== undefined && world.cursors.length < MAX_POOL) world.cursors.push(decodeURIComponent(cursor))
  if (!/^application\/json/.test(String(response.headers['content-type'])) || response.body === '') return
  const body = JSON.parse(response.body) as unknown
  const pool = world.ids[request.caller]
  for (const task of (Array.isArray(body) ? body : [body]) as Partial<TaskJson>[]) {
    for (const id of [task?.id, task?.next_task_id]) {
      if (typeof id === 'string' && pool.length < MAX_POOL && !pool.includes(id)) pool.push(id)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run

const VICTIM_TASKS = [
  { title: 'VICTIM-SECRET-ALPHA plans', description: 'VICTIM-NOTE-ALPHA', tags: ['victim-tag-alpha'], priority: 'high' },
  { title: 'VICTIM-SECRET-BRAVO 100% _private_', description: 'VICTIM-NOTE-BRAVO', tags: ['victim-tag-bravo', 'work'], due_date: '2099-01-31T09:00:00Z', recurrence: 'monthly' },
  { title: 'VICTIM-SECRET-CHARLIE done', description: 'VICTIM-NOTE-CHARLIE', tags: ['victim-tag-charlie'], completed: true },
  { title: 'VICTIM-SECRET-DELTA overdue', tags: ['victim-tag-delta', 'home'], due_date: '2001-01-01T00:00:00Z', recurrence: 'daily', completed: true },
]

const FUZZER_TASKS = [
  { title: 'fuzz one' },
  { title: 'Fuzz two', description: 'something', priority: 'high', tags: ['work', 'home'], due_date: '2030-01-01T00:00:00Z' },
  { title: 'recurring', due_date: '2031-01-31T09:00:00Z', recurrence: 'monthly' },
  { title: 'done already', completed: true, priority: 'low' },
  { title: 'overdue', due_date: '2001-01-01T00:00:00Z', recurrence: 'daily', tags: ['errands'] },
]

/** Everything the victim can see of their own tasks, as the exact bytes the server sends. */
async function victimSnapshot (app: FastifyInstance, ids: string[]): Promise<string[]> {
  const headers = { authorization: `Bearer ${tokenFor(VICTIM, {}, { expiresIn: HOUR_MS })}` }
  const seen: string[] = []
  const list = await app.inject({ url: '/api/tasks?limit=500', headers })
  seen.push(`list ${list.statusCode} ${list.headers['x-total-count']} ${list.body}`)
  const stats = await app.inject({ url: '/api/tasks/stats', headers })
  seen.push(`stats ${stats.statusCode} ${stats.body}`)
  for (const id of ids) {
    const task = await app.inject({ url: `/api/tasks/${id}`, headers })
    seen.push(`task ${task.statusCode} ${task.headers.etag} ${task.body}`)
  }
  return seen
}

async function create (app: FastifyInstance, user: string, payload: object): Promise<TaskJson> {
  const headers = { authorization: `Bearer ${tokenFor(user, {}, { expiresIn: HOUR_MS })}` }
  const response = await app.inject({ method: 'POST', url: '/api/tasks', headers, payload })
  if (response.statusCode !== 201) throw new Error(`seeding failed: ${response.statusCode} ${response.body}`)
  return JSON.parse(response.body) as TaskJson
}

// `npm run fuzz` (10000 cases) takes about 40 s on all three drivers, 80 s on a 2-core machine busy with two
// other processes: inside tap's 120 s per file, but not by much. So a long run raises the file's timeout (never
// lowers it), allowing 15 ms a case.
const TAP_TIMEOUT_MS = Number(process.env.TAP_TIMEOUT ?? '30') * 1000
const NEEDED_MS = 60_000 + RUNS * 15
if (TAP_TIMEOUT_MS > 0 && NEEDED_MS > TAP_TIMEOUT_MS) t.setTimeout(NEEDED_MS)

forEachDriver(t, async (t, databaseUrl, driver) => {
  const numRuns = runsFor(driver)
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const victimTasks = []
  for (const task of VICTIM_TASKS) victimTasks.push(await create(app, VICTIM, task))
  const world: World = { ids: { fuzzer: [], victim: victimTasks.map((task) => task.id), bystander: [] }, cursors: [] }
  for (const task of FUZZER_TASKS) world.ids.fuzzer.push((await create(app, FUZZER, task)).id)
  world.ids.bystander.push((await create(app, BYSTANDER, { title: 'bystander task' })).id)

  // Distinctive enough that no answer contains one by chance; ids too, except where the request sent them.
  const secrets = [
    ...victimTasks.flatMap((task) => [task.id, task.title, ...(task.description === null ? [] : [task.description]), ...task.tags.filter((tag) => tag.startsWith('victim'))]),
    'victim-secret',
    'victim-note',
  ].map((secret) => secret.toLowerCase())
  const before = await victimSnapshot(app, world.ids.victim)

  t.test(`${numRuns} arbitrary requests: no 5xx, problem documents, no leak`, async (t) => {
    const started = Date.now()
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (spec) => {
        const rendered = render(spec, world)
        const response = await app.inject(rendered.options)
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
        check(rendered, response, secrets)
        learn(rendered, response, world)
      }),
      { numRuns, ...(SEED !== undefined && { seed: SEED }) }
    )
    const seconds = (Date.now() - started) / 1000
    const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ')
    t.comment(`${driver}: ${numRuns} cases in ${seconds.toFixed(1)} s; answers ${byStatus}`)
    t.pass('every answer had the properties')
  })

  t.test("the victim's tasks are byte-for-byte unchanged", async (t) => {
    t.same(await victimSnapshot(app, world.ids.victim), before)
  })
})
