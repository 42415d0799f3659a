import { expect, it } from 'vitest';
import { describeKernel, kernel } from './support/kernel.js';

describeKernel('kernel gate', () => {
  it('probe ran the end-to-end check', () => {
    expect(kernel.endToEnd).toBe(true);
    expect(kernel.reasons).toEqual([]);
  });
});
