/*
 * The C limits for the compare mechanism's rows in `npm run bench` (bench/lib/compare.mjs): the
 * same page diff in C (memcmp per page, memcpy of each differing page into the copy), and one
 * memcmp pass over the whole region against an equal copy (both read once: memory bandwidth).
 * Timed inside C (CLOCK_MONOTONIC), so koffi's call cost is not charged to C.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Pages of [live, live + len) differing from copy: counted into *pages, copied into copy. */
double wwc_diff_pages(uint64_t live, uint64_t copy, uint64_t len, uint64_t page, uint64_t *pages)
{
	const uint8_t *l = (const uint8_t *)(uintptr_t)live;
	uint8_t *c = (uint8_t *)(uintptr_t)copy;
	uint64_t n = 0;
	double t0 = now_ns();
	for (uint64_t o = 0; o < len; o += page) {
		if (memcmp(l + o, c + o, page) != 0) {
			memcpy(c + o, l + o, page);
			n++;
		}
	}
	double t = now_ns() - t0;
	*pages = n;
	return t;
}

/* One memcmp over [a, a + len) and [b, b + len); *result its sign. */
double wwc_memcmp(uint64_t a, uint64_t b, uint64_t len, int *result)
{
	double t0 = now_ns();
	int r = memcmp((const void *)(uintptr_t)a, (const void *)(uintptr_t)b, len);
	double t = now_ns() - t0;
	*result = r;
	return t;
}
