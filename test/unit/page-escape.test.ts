import t from 'tap'
import { escapeHtml } from '../../src/http/page-routes'

t.test('a sale name is escaped for HTML text and quoted attributes', async (t) => {
  t.equal(
    escapeHtml(`<script>alert("x")</script>`),
    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;',
  )
  t.equal(escapeHtml(`a & b's`), 'a &amp; b&#39;s')
  t.equal(escapeHtml('手机 Phone'), '手机 Phone', 'other text unchanged')
  t.equal(escapeHtml('&amp;'), '&amp;amp;', 'escaped once more, not taken for an entity')
})
