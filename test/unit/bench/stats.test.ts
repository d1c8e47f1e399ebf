import { describe, expect, test } from '@jest/globals';
import { mean, median, pairedRatio, percentile, round, summarize } from '../../../bench/lib/stats.js';

describe('bench statistics', () => {
  test('median of odd and even samples, independent of order', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  test('percentile interpolates between closest ranks', () => {
    const v = [10, 20, 30, 40, 50];
    expect(percentile(v, 0)).toBe(10);
    expect(percentile(v, 100)).toBe(50);
    expect(percentile(v, 25)).toBe(20);
    expect(percentile(v, 90)).toBeCloseTo(46);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 99)).toBeCloseTo(99.01);
  });

  test('bad input is an error, not a number', () => {
    expect(() => median([])).toThrow(/empty sample/);
    expect(() => percentile([1], 101)).toThrow(/0\.\.100/);
    expect(() => mean([1, Number.NaN])).toThrow(/non-finite/);
    expect(() => pairedRatio([1, 2], [1])).toThrow(/differ in length/);
    expect(() => pairedRatio([1], [0])).toThrow(/zero denominator/);
  });

  test('summary and paired ratio', () => {
    expect(summarize([1, 2, 3])).toEqual({ n: 3, min: 1, p50: 2, p99: expect.closeTo(2.98, 5), max: 3, mean: 2 });
    // Per-run ratios 2, 1, 3: the median is 2 (not the ratio of medians, 4/2).
    expect(pairedRatio([2, 4, 9], [1, 4, 3])).toBe(2);
  });

  test('round keeps significant digits', () => {
    expect(round(1.23456)).toBe(1.23);
    expect(round(123456, 2)).toBe(120000);
    expect(round(0)).toBe(0);
  });
});
