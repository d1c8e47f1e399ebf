import { describe, expect, test } from '@jest/globals';
import { EXIT, exitCodeFor, problems, verdictOf, worstVerdict } from '../../../src/probe/outcome.js';
import type { CheckResult } from '../../../src/probe/types.js';

const pass: CheckResult = { check: 'a', result: 'pass', message: 'ok' };
const warn: CheckResult = { check: 'b', result: 'warn', reason: 'certificate-expiring-soon', message: 'soon' };
const fail: CheckResult = { check: 'c', result: 'fail', reason: 'certificate-expired', message: 'gone' };

describe('verdict and exit code', () => {
  test('all passes are healthy, exit 0', () => {
    expect(verdictOf([pass, pass])).toBe('healthy');
    expect(exitCodeFor(verdictOf([pass]))).toBe(0);
  });
  test('any warning without failure is a warning, exit 1', () => {
    expect(verdictOf([pass, warn])).toBe('warning');
    expect(exitCodeFor('warning')).toBe(1);
  });
  test('any failure wins over warnings, exit 2', () => {
    expect(verdictOf([warn, fail, pass])).toBe('failing');
    expect(exitCodeFor('failing')).toBe(2);
  });
  test('no checks at all is healthy only because nothing failed', () => {
    expect(verdictOf([])).toBe('healthy');
  });
  test('usage errors have their own code', () => {
    expect(EXIT.usage).toBe(64);
  });
  test('worst verdict combines fast probe and deep scan', () => {
    expect(worstVerdict('healthy', 'warning')).toBe('warning');
    expect(worstVerdict('warning', 'failing', 'healthy')).toBe('failing');
    expect(worstVerdict('healthy')).toBe('healthy');
  });
  test('problems keeps warn and fail in order', () => {
    expect(problems([pass, fail, warn]).map((c) => c.check)).toEqual(['c', 'b']);
  });
});
