// route on the cpu backend: native/addon/route.cpp (native/cpu/route*.cpp), with the arguments of
// lib/backends/route_native.ts.

import type { CpuWiring } from '../cpu';
import { prepareRoute } from '../route_native';

export const wiring: CpuWiring<'route'> = {
  natives: ['route', 'routeAsync'],
  sync(addon, v) {
    const { args, result } = prepareRoute(v);
    addon.route(args);
    return result();
  },
  async async(addon, v) {
    const { args, result } = prepareRoute(v);
    await addon.routeAsync(args);
    return result();
  },
};
