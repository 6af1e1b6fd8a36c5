import { describe, expect, it } from 'vitest';
import { activeRouteUpstreams, routeUpstreams } from './route-upstreams.js';

describe('routeUpstreams', () => {
  it('ok/one upstream is a split of one with weight 1', () => {
    expect(routeUpstreams({ upstream: 'api', upstreams: undefined })).toEqual([{ name: 'api', weight: 1 }]);
  });

  it('ok/a split keeps its order and weights; weight 0 is listed but not active', () => {
    const route = { upstream: undefined, upstreams: [{ name: 'blue', weight: 0 }, { name: 'green', weight: 3 }] };
    expect(routeUpstreams(route).map((u) => u.name)).toEqual(['blue', 'green']);
    expect(activeRouteUpstreams(route)).toEqual([{ name: 'green', weight: 3 }]);
  });

  it('error/neither given yields no pools (the schema refuses it before this is reached)', () => {
    expect(routeUpstreams({ upstream: undefined, upstreams: undefined })).toEqual([]);
  });
});
