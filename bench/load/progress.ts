import ProgressBar from 'progress'

/**
 * A time-based progress bar for generators that report nothing while they run (wrk, the
 * fixed-rate generator): it ticks once a second on stderr (drawn only on a terminal, like
 * autocannon's own). Returns the function that stops it.
 */
export function timeBar(label: string, seconds: number | null): () => void {
  const total = seconds ?? 1e9
  const format =
    seconds === null ? `${label} :elapseds` : `${label} [:bar] :percent :elapseds/${seconds}s`
  const bar = new ProgressBar(format, { total, width: 30, clear: true })
  bar.render()
  const timer = setInterval(() => {
    if (bar.curr < total - 1) bar.tick()
    else bar.render()
  }, 1000)
  return () => {
    clearInterval(timer)
    bar.terminate()
  }
}
