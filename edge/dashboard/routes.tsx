// The dashboard: one public page (it holds no data), its script and its stylesheet. Everything the
// page shows comes from the JSON API, authenticated with the key the user enters.
import { Hono } from 'hono'
import { clientScript } from './client/script.ts'
import { DashboardPage } from './page.tsx'
import { STYLESHEET } from './style.ts'

// the page runs only its own script and talks only to this origin
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data: blob:",
  "form-action 'none'", "base-uri 'none'", "frame-ancestors 'none'",
].join('; ')

export function dashboardRoutes() {
  const page = `<!DOCTYPE html>${(<DashboardPage />).toString()}`
  const script = clientScript()
  const headers = (type: string) => ({ 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
  return new Hono()
    .get('/', (c) => c.body(page, 200, { ...headers('text/html; charset=utf-8'), 'content-security-policy': CONTENT_SECURITY_POLICY }))
    .get('/app.js', (c) => c.body(script, 200, headers('text/javascript; charset=utf-8')))
    .get('/style.css', (c) => c.body(STYLESHEET, 200, headers('text/css; charset=utf-8')))
}
