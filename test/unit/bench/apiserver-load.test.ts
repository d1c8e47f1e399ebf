import { describe, expect, it } from '@jest/globals';
import { focusShare, loadDelta, sumByLabel, type ApiServerLoad } from '../../../bench/lib/apiserver-load.js';

const metrics = `# HELP apiserver_watch_events_total [STABLE] Number of events sent in watch clients
# TYPE apiserver_watch_events_total counter
apiserver_watch_events_total{group="",resource="services",version="v1"} 600
apiserver_watch_events_total{group="smtprelay.dev",resource="smtprelays",version="v1alpha1"} 1800
apiserver_watch_events_sizes_sum{group="",resource="services",version="v1"} 1.5e+06
apiserver_request_total{code="201",component="apiserver",group="",resource="events",verb="POST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",group="apps",resource="deployments",verb="APPLY",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",group="apps",resource="deployments",verb="APPLY",version="v1"} 1
apiserver_watch_events_total_other 99
`;

describe('sumByLabel (Prometheus text from kube-apiserver /metrics)', () => {
  it('sums a counter over all its samples, and only that counter', () => {
    expect(sumByLabel(metrics, 'apiserver_watch_events_total', '')).toEqual({ '': 2400 });
  });
  it('groups by one label', () => {
    expect(sumByLabel(metrics, 'apiserver_watch_events_total', 'resource')).toEqual({ services: 600, smtprelays: 1800 });
    expect(sumByLabel(metrics, 'apiserver_request_total', 'verb')).toEqual({ POST: 3, APPLY: 8 });
  });
  it('reads exponent notation', () => {
    expect(sumByLabel(metrics, 'apiserver_watch_events_sizes_sum', '')).toEqual({ '': 1_500_000 });
  });
});

describe('loadDelta', () => {
  it('subtracts counters and keeps only keys that moved', () => {
    const a: ApiServerLoad = { apiServerCpu: 1, etcdCpu: 2, watchEvents: 10, watchBytes: 100, watchEventsByResource: { services: 5, pods: 1 }, requestsByVerb: { GET: 3 } };
    const b: ApiServerLoad = { apiServerCpu: 4, etcdCpu: 2.5, watchEvents: 30, watchBytes: 400, watchEventsByResource: { services: 9, pods: 1, '': 2 }, requestsByVerb: { GET: 3, APPLY: 6 } };
    expect(loadDelta(a, b)).toEqual({ apiServerCpu: 3, etcdCpu: 0.5, watchEvents: 20, watchBytes: 300, watchEventsByResource: { services: 4, '(none)': 2 }, requestsByVerb: { APPLY: 6 } });
  });
});

describe('focusShare (go tool pprof -top header)', () => {
  it('reads the shown and total seconds in any unit', () => {
    expect(focusShare('Active filters:\n   focus=x\nShowing nodes accounting for 3.16s, 32.95% of 9.59s total\n')).toEqual({ seconds: 3.16, total: 9.59 });
    expect(focusShare('Showing nodes accounting for 480ms, 5.01% of 1.60min total')).toEqual({ seconds: 0.48, total: 96 });
  });
  it('is zero when pprof printed nothing (no sample matched)', () => {
    expect(focusShare('')).toEqual({ seconds: 0, total: 0 });
  });
});
