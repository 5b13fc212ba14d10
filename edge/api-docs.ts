// The API reference as one page (/docs), rendered from the OpenAPI description: every operation
// by tag with its parameters, its request body and its answers' schemas. Server-rendered, no
// script and nothing fetched from elsewhere.
import type { openApiDocument } from './openapi.ts'

type Document = ReturnType<typeof openApiDocument>
type Operation = { tags: string[]; summary: string; security?: unknown[]; parameters?: { name: string; in: string; required: boolean; schema: unknown }[]; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { description: string; content?: Record<string, { schema: unknown; description?: string }> }> }

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const schemaBlock = (schema: unknown) => `<details><summary>schema</summary><pre>${escape(JSON.stringify(schema, null, 2))}</pre></details>`

export function apiDocsPage(document: Document): string {
  const byTag = new Map<string, string[]>()
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as Operation
      const parameters = op.parameters?.length
        ? `<table><thead><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr></thead><tbody>${op.parameters.map((p) => `<tr><td><code>${escape(p.name)}</code></td><td>${p.in}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escape(JSON.stringify(p.schema))}</code></td></tr>`).join('')}</tbody></table>`
        : ''
      const body = op.requestBody ? Object.entries(op.requestBody.content).map(([type, c]) => `<h4>Body: ${escape(type)}</h4>${schemaBlock(c.schema)}`).join('') : ''
      const ok = Object.entries(op.responses).filter(([status]) => Number(status) < 400)
        .map(([status, r]) => `<h4>${status}</h4>${Object.entries(r.content ?? {}).map(([type, c]) => `<p><code>${escape(type)}</code>${c.description ? ` ${escape(c.description)}` : ''}</p>${type === 'application/json' ? schemaBlock(c.schema) : ''}`).join('')}`).join('')
      const section = `<section id="${escape(`${method}-${path}`)}"><h3><span class="method">${method.toUpperCase()}</span> <code>${escape(path)}</code>${op.security?.length === 0 ? ' <small>(no key)</small>' : ''}</h3><p>${escape(op.summary)}</p>${parameters}${body}${ok}</section>`
      const tag = op.tags[0]
      byTag.set(tag, [...(byTag.get(tag) ?? []), section])
    }
  }
  const nav = [...byTag.keys()].map((tag) => `<a href="#tag-${escape(tag)}">${escape(tag)}</a>`).join(' · ')
  const components = Object.entries(document.components.schemas).map(([name, schema]) => `<section id="schema-${name}"><h3>${name}</h3>${schemaBlock(schema)}</section>`).join('')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(document.info.title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1b1b1b}code,pre{font:13px ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}table{border-collapse:collapse;display:block;overflow-x:auto}td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left;vertical-align:top}.method{background:#1f4e79;color:#fff;padding:0 .3rem;border-radius:3px;font-size:.8em}section{border-top:1px solid #eee;margin-top:1rem}h3 code{word-break:break-all}</style></head>
<body><h1>${escape(document.info.title)} <small>${escape(document.info.version)}</small></h1><p>${escape(document.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${document.openapi}). Errors are <a href="#schema-Error">Error</a> objects with a 4xx or 5xx status.</p><nav>${nav}</nav>
${[...byTag].map(([tag, sections]) => `<h2 id="tag-${escape(tag)}">${escape(tag)}</h2>${sections.join('')}`).join('')}
<h2 id="schemas">Objects</h2>${components}</body></html>`
}
