// Preloaded by bench/memory.sh (node --expose-gc --require ...): SIGUSR2 runs a full GC and prints
// the heap and RSS after it as one line, so the measurement reads live memory, not garbage.
process.on('SIGUSR2', () => {
  globalThis.gc();
  const m = process.memoryUsage();
  process.stderr.write(`BENCH_MEMORY ${JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
});
