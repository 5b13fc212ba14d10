// Every answer the tests get through testApp is checked against the OpenAPI description
// (edge/openapi.ts): the route must be described, its status among the described ones, its content
// type one of them, and a JSON body valid against the schema (ajv, JSON Schema 2020-12), so each
// API test is also a conformance test of what it exercises.
import { Ajv2020 } from 'ajv/dist/2020.js'
import { openApiDocument } from '../../edge/openapi.ts'

export const DOCUMENT = openApiDocument('test')
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false })
ajv.addSchema({ $id: 'openapi.json', components: DOCUMENT.components })

type Described = { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }
const operations = Object.entries(DOCUMENT.paths).flatMap(([template, methods]) => Object.entries(methods).map(([method, op]) => ({
  method, template, op: op as Described,
  // {path} is the rest of the path (a checkpoint file's, with its folders); other parameters one segment
  pattern: new RegExp(`^${template.replace(/\{(\w+)\}/g, (_, name) => (name === 'path' ? '.+' : '[^/]+'))}$`),
})))
// pages, not API: the dashboard, its assets, the front door and the reference page
const PAGES = /^\/(dashboard(\/.*)?|favicon\.ico|docs)?$/
const validators = new Map<string, ReturnType<typeof ajv.compile>>()
export const exercised = new Set<string>()

export function operationOf(method: string, path: string) {
  return operations.find((o) => o.method === method.toLowerCase() && o.pattern.test(path))
}

/** Throws, naming what differs, unless the answer is one the description allows. */
export function checkAgainstDescription(method: string, url: string, status: number, contentType: string | null, text: string) {
  const path = new URL(url, 'http://x').pathname
  if (PAGES.test(path)) return
  const found = operationOf(method, path)
  const where = `${method} ${path} -> ${status}`
  const type = (contentType ?? '').split(';')[0].trim()
  if (!found) {
    // no such route: the API's own 404 (or a 405 from the router), an Error object
    if (status < 400) throw new Error(`${where}: this route is not in the OpenAPI description`)
    return validate({ $ref: '#/components/schemas/Error' }, text, where)
  }
  const response = found.op.responses[String(status)]
  if (!response) throw new Error(`${where}: status ${status} is not described for ${found.method.toUpperCase()} ${found.template}`)
  const described = response.content ?? {}
  if (!(type in described)) throw new Error(`${where}: content type '${type}' is not described (${Object.keys(described).join(', ')})`)
  if (status < 400) exercised.add(`${found.method} ${found.template}`)
  if (type === 'application/json') validate(described[type].schema, text, where)
}

function validate(schema: { $ref?: string }, text: string, where: string) {
  const ref = schema.$ref ?? JSON.stringify(schema)
  let validator = validators.get(ref)
  if (!validator) validators.set(ref, validator = ajv.compile(schema.$ref ? { $ref: `openapi.json${schema.$ref}` } : schema))
  let body: unknown
  try { body = JSON.parse(text) } catch { throw new Error(`${where}: the body is not JSON: ${text.slice(0, 200)}`) }
  if (!validator(body)) throw new Error(`${where}: the body does not match ${ref}: ${ajv.errorsText(validator.errors, { separator: '; ' })}\n${text.slice(0, 500)}`)
}
