// The streaming multipart reader against the bodies the platform's own Request/FormData write,
// delivered in chunks of every small size (so delimiters and headers are cut anywhere), and
// against truncated and malformed bodies.
import { describe, expect, it } from 'vitest'
import { boundaryOf, multipartParts } from '../../edge/multipart.ts'

async function encoded(form: FormData) {
  const request = new Request('http://x/', { method: 'POST', body: form })
  return { bytes: new Uint8Array(await request.arrayBuffer()), contentType: request.headers.get('content-type')! }
}

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({ pull(controller) {
    if (at >= bytes.length) return controller.close()
    controller.enqueue(bytes.slice(at, at + size))
    at += size
  } })
}

async function read(stream: ReadableStream<Uint8Array>, contentType: string) {
  const parts: { name: string; filename?: string; text: string }[] = []
  for await (const part of multipartParts(stream, boundaryOf(contentType))) {
    parts.push({ name: part.name, filename: part.filename, text: await new Response(part.body).text() })
  }
  return parts
}

describe('multipartParts', () => {
  it('reads every part, whatever the chunk sizes, the file before or after the fields', async () => {
    const form = new FormData()
    form.set('file', new File(['line one\r\n--not the boundary\r\nline ✓ three\n'.repeat(50)], 'rows.jsonl'))
    form.set('purpose', 'fine-tune')
    form.set('empty', '')
    const { bytes, contentType } = await encoded(form)
    const expected = [
      { name: 'file', filename: 'rows.jsonl', text: 'line one\r\n--not the boundary\r\nline ✓ three\n'.repeat(50) },
      { name: 'purpose', filename: undefined, text: 'fine-tune' },
      { name: 'empty', filename: undefined, text: '' },
    ]
    for (const size of [1, 2, 3, 5, 7, 13, 64, 4096, bytes.length]) expect(await read(chunked(bytes, size), contentType)).toEqual(expected)
  })

  it('skips a part the reader cancels', async () => {
    const form = new FormData()
    form.set('skipped', new File(['x'.repeat(10_000)], 'big.bin'))
    form.set('kept', 'yes')
    const { bytes, contentType } = await encoded(form)
    const seen: string[] = []
    for await (const part of multipartParts(chunked(bytes, 100), boundaryOf(contentType))) {
      if (part.name === 'skipped') await part.body.cancel()
      else seen.push(await new Response(part.body).text())
    }
    expect(seen).toEqual(['yes'])
  })

  it('refuses truncated and malformed bodies with invalid_multipart', async () => {
    const form = new FormData()
    form.set('file', new File(['abc'], 'a.jsonl'))
    const { bytes, contentType } = await encoded(form)
    for (const cut of [10, bytes.length - 10, bytes.length - 3]) {
      await expect(read(chunked(bytes.slice(0, cut), 7), contentType)).rejects.toMatchObject({ code: 'invalid_multipart' })
    }
    await expect(read(chunked(new TextEncoder().encode('no boundary here'), 4), contentType)).rejects.toMatchObject({ code: 'invalid_multipart' })
    expect(() => boundaryOf('multipart/form-data')).toThrow(/names no boundary/)
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b')
  })
})
