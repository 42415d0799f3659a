/**
 * `npm run bench`: the Linux report (bench/run.mjs: the C loop, the koffi floor, the writer, …) or,
 * on Windows, the kernel32 one (bench/windows.mjs: WriteWatch against a koffi loop calling kernel32
 * with nothing else). The one platform branch of the benchmarks; arguments pass through.
 */
await import(process.platform === 'win32' ? './windows.mjs' : './run.mjs');
