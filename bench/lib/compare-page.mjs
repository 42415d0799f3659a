/** The page size without probe() (which needs write-protect to say "supported"). */
import { WriteWatch } from 'writewatch';

export function getpagesize() {
  const ww = WriteWatch.allocate(1, { mechanism: 'compare' });
  const page = ww.granularity;
  ww.close();
  return page;
}
