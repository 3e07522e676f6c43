import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The headers helmet sends by default (HSTS, nosniff, no referrer, same-origin opener and resource policies, …).
 * A JSON response loads nothing and is framed by nobody, so its content security policy allows nothing; the docs
 * pages set their own (src/plugins/docs.ts), which replaces this one.
 *
 * They never vary, so they are one object set by one synchronous hook. (@fastify/helmet rebuilt helmet's
 * middleware on every request, parsing its options anew, and its raw `setHeader` calls took Node off the path
 * where `writeHead` writes all the headers in one pass: about 10 µs a request, measured by `npm run bench`.)
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  // The browsers' old XSS auditor caused leaks of its own; 0 turns it off, as current advice has it.
  'x-xss-protection': '0',
} as const

const securityHeaders: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS)
    done()
  })
}

export default fp(securityHeaders, { name: 'security-headers' })
