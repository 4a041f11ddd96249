import t from 'tap'
import { asset, notModified } from '../../src/http/static-asset'

t.test('an asset carries a strong ETag of its bytes and a type from its name', async (t) => {
  const a = asset('sale.html', '<p>hi</p>', 'public, max-age=60')
  const b = asset('sale.html', '<p>hi</p>', 'public, max-age=60')
  const c = asset('sale.html', '<p>ho</p>', 'public, max-age=60')
  t.match(a.etag, /^"[A-Za-z0-9_-]{22}"$/, 'quoted, not W/')
  t.equal(a.etag, b.etag, 'the same bytes, the same tag')
  t.not(a.etag, c.etag, 'other bytes, another tag')
  t.equal(a.type, 'text/html; charset=utf-8')
  t.equal(asset('x.js', '', '').type, 'text/javascript; charset=utf-8')
  t.equal(asset('x.css', '', '').type, 'text/css; charset=utf-8')
})

t.test('If-None-Match names the asset: a list, a weak tag, or *', async (t) => {
  const tag = '"abc"'
  t.equal(notModified('', tag), false, 'no header: send it')
  t.equal(notModified('"abc"', tag), true)
  t.equal(notModified('"x", "abc"', tag), true, 'in a list')
  t.equal(notModified('W/"abc"', tag), true, 'a weak tag compares weakly')
  t.equal(notModified('*', tag), true)
  t.equal(notModified('"abd"', tag), false, 'another tag: send it')
  t.equal(notModified('abc', tag), false, 'an unquoted value is not the tag')
})
