import t from 'tap'
import { FixedQueue } from '../../src/purchase/fixed-queue'

t.test('items come out in the order they went in, across several growths', async (t) => {
  const q = new FixedQueue<number>(2)
  for (let i = 1; i <= 9; i++) q.push(i)
  t.equal(q.length, 9)
  const out: number[] = []
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x)
  t.strictSame(out, [1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.equal(q.length, 0)
})

t.test('growing while the ring has wrapped keeps the order (shift between pushes)', async (t) => {
  const q = new FixedQueue<number>(4)
  q.push(1)
  q.push(2)
  q.push(3)
  t.equal(q.shift(), 1)
  t.equal(q.shift(), 2)
  // head is now at slot 2: these pushes wrap around, then the fifth one forces a growth
  for (let i = 4; i <= 8; i++) q.push(i)
  t.equal(q.length, 6)
  t.equal(q.shift(), 3)
  q.push(9)
  const out: number[] = []
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x)
  t.strictSame(out, [4, 5, 6, 7, 8, 9])
})

t.test('a long interleaving of pushes and shifts matches a plain array', async (t) => {
  const q = new FixedQueue<number>(1)
  const model: number[] = []
  const got: (number | undefined)[] = []
  const want: (number | undefined)[] = []
  const lengths = new Set<number>()
  // a fixed pseudo-random walk, pushing twice as often as shifting so the queue keeps growing
  let seed = 7
  let next = 0
  for (let step = 0; step < 5000; step++) {
    seed = (seed * 1103515245 + 12345) % 2147483648
    if (seed % 3 === 0) {
      got.push(q.shift())
      want.push(model.shift())
    } else {
      q.push(next)
      model.push(next)
      next++
    }
    lengths.add(q.length - model.length)
  }
  t.strictSame(got, want, 'every shift answered what the array did')
  t.strictSame([...lengths], [0], 'length agreed with the array at every step')
  t.ok(model.length > 1024, 'the queue grew well past its first buffers')
  t.equal(q.peek(), model[0])
  const out: number[] = []
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x)
  t.strictSame(out, model)
})

t.test('peek shows the oldest item without removing it', async (t) => {
  const q = new FixedQueue<string>()
  t.equal(q.peek(), undefined)
  q.push('a')
  q.push('b')
  t.equal(q.peek(), 'a')
  t.equal(q.peek(), 'a')
  t.equal(q.length, 2)
  t.equal(q.shift(), 'a')
  t.equal(q.peek(), 'b')
  t.equal(q.length, 1)
})

t.test('shift on an empty queue answers undefined and leaves it usable', async (t) => {
  const q = new FixedQueue<string>(2)
  t.equal(q.shift(), undefined)
  t.equal(q.length, 0)
  q.push('x')
  t.equal(q.shift(), 'x')
  t.equal(q.shift(), undefined)
  t.equal(q.shift(), undefined)
  t.equal(q.length, 0)
  t.equal(q.peek(), undefined)
  q.push('y')
  t.equal(q.length, 1)
  t.equal(q.peek(), 'y')
})
