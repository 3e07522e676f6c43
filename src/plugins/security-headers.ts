import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The headers every answer carries: the set the OWASP REST Security Cheat Sheet gives for API responses (a
 * content security policy that lets nothing load and nobody frame the answer, HSTS, nosniff, X-Frame-Options),
 * with no referrer and a same-origin resource policy. The docs pages replace the content security policy with
 * their own and add DOCUMENT_SECURITY_HEADERS (src/plugins/docs.ts).
 *
 * They never vary, so they are one object set by one synchronous hook. (@fastify/helmet rebuilt helmet's
 * middleware on every request, parsing its options anew, and its raw `setHeader` calls took Node off the path
 * where `writeHead` writes all the headers in one pass.)
 */
export const API_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
} as const

/**
 * The rest of helmet's defaults, which act on a page a browser renders and, as the cheat sheet notes, bring
 * nothing to a JSON answer: sent on the docs pages only, where they keep what helmet gave them.
 */
export const DOCUMENT_SECURITY_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-permitted-cross-domain-policies': 'none',
  // The browsers' old XSS auditor caused leaks of its own; 0 turns it off, as current advice has it.
  'x-xss-protection': '0',
} as const

/** `/api` answers hold a user's data: no cache may keep them (contract §8). Clients revalidate with If-None-Match. */
export const API_ANSWER_HEADERS = { ...API_SECURITY_HEADERS, 'cache-control': 'no-store' } as const

/** The headers every answer to `url` carries, whatever its status. */
export function answerHeaders (url: string): Readonly<Record<string, string>> {
  return url.startsWith('/api') && (url.length === 4 || url[4] === '/' || url[4] === '?') ? API_ANSWER_HEADERS : API_SECURITY_HEADERS
}

const securityHeaders: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.headers(answerHeaders(request.url))
    done()
  })
}

export default fp(securityHeaders, { name: 'security-headers' })
