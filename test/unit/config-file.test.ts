import t from 'tap'
import { redactPassword } from '../../src/cli/config-command'
import { mergeSources, parseConfigFile } from '../../src/config-file'

t.test(
  'a config file is a JSON object of known variables, read as environment strings',
  async (t) => {
    t.same(parseConfigFile('{"PORT": 3100, "REDIS_URL": "redis://r:6379", "WORKERS": 2}', 'f'), {
      PORT: '3100',
      REDIS_URL: 'redis://r:6379',
      WORKERS: '2',
    })
    const refused: [string, string, RegExp][] = [
      ['not JSON', '{PORT: 1}', /config file f: not JSON/],
      ['an array', '[1]', /must be a JSON object/],
      ['null', 'null', /must be a JSON object/],
      ['a typo', '{"PROT": 3100}', /unknown variable PROT/],
      ['a nested value', '{"PORT": {"n": 1}}', /PORT must be a string, number or boolean/],
      ['a null value', '{"PORT": null}', /PORT must be a string, number or boolean/],
    ]
    for (const [what, text, message] of refused) {
      t.throws(() => parseConfigFile(text, 'f'), { message, code: 'config_invalid' }, what)
    }
  },
)

t.test('the environment wins over the file, which wins over the defaults', async (t) => {
  const s = mergeSources(
    { PORT: '3200', HOME: '/root', PG_SCHEMA: undefined },
    { PORT: '3100', WORKERS: '3' },
    '/etc/seckill.config.json',
  )
  t.equal(s.env.PORT, '3200', 'PORT from the environment')
  t.equal(s.env.WORKERS, '3', 'WORKERS from the file')
  t.equal(s.env.HOME, '/root', 'the rest of the environment is kept')
  t.equal(s.origin('PORT'), 'env')
  t.equal(s.origin('WORKERS'), 'file')
  t.equal(s.origin('PG_SCHEMA'), 'default', 'a variable set to undefined is not set')
  t.equal(s.file, '/etc/seckill.config.json')
})

t.test('passwords in URLs are redacted, the rest of the URL kept', async (t) => {
  t.equal(redactPassword('postgres://app:s3cret@db:5432/shop'), 'postgres://app:***@db:5432/shop')
  t.equal(redactPassword('redis://:s3cret@r:6379/0'), 'redis://:***@r:6379/0')
  t.equal(redactPassword('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379', 'no password')
  t.equal(redactPassword('postgres://app@db/shop'), 'postgres://app@db/shop', 'a user alone')
})
