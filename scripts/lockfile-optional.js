#!/usr/bin/env node
// Restores the lockfile entries of platform-specific optional packages that `npm install` leaves out when
// the registry it talks to does not serve them (this workplace's mirror answers 404 for jest's
// @unrs/resolver-binding-{darwin,win32,android,...} packages). Without those entries `npm ci` refuses the
// lockfile ("Missing: ... from lock file"), although it would skip them on this platform anyway.
// Run it after any `npm install` that rewrites package-lock.json:  node scripts/lockfile-optional.js
'use strict';
const fs = require('fs');
const path = require('path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies || {})) {
    const m = /resolver-binding-([a-z0-9]+)-([a-z0-9]+)(?:-(\w+))?$/.exec(name);
    const at = `node_modules/${name}`;
    if (pkgs[at] || !m) continue;
    const [, os, cpu, abi] = m;
    pkgs[at] = { version, cpu: [cpu], dev: !!entry.dev, license: 'MIT', optional: true, os: [os],
      ...(os === 'linux' ? { libc: [abi && abi.startsWith('musl') ? 'musl' : 'glibc'] } : {}) };
    added++;
    void key;
  }
}
const [rootKey, ...rest] = Object.keys(pkgs);
lock.packages = Object.fromEntries([[rootKey, pkgs[rootKey]], ...rest.sort().map((k) => [k, pkgs[k]])]);
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-optional: added ${added} missing optional entries`);
