// Lets a plain `node` child process or worker thread load the TypeScript sources (lib/, test/) directly:
// `node -r ./test/stress/ts-register.js file.ts`, or require() this file first in a worker. Jest's own
// transform (ts-jest) exists only inside jest workers, and the stress and fuzz children must be plain node
// processes (--expose-gc, crash and hang isolation, worker_threads).
//
// Each file is transpiled alone (no type check: jest and tsc do that) and cached on disk by content hash,
// so only the first run pays for the TypeScript compiler (about 2.5 s for lib/; 0.2 s from the cache).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const cacheDir = path.join(os.tmpdir(), `moe-kernels-ts-cache-${process.getuid ? process.getuid() : 'u'}`);
let ts = null;

function transpile(source, file) {
  const key = crypto.createHash('sha1').update(file).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not cached yet
  }
  ts = ts || require('typescript');
  const out = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      inlineSourceMap: true,
    },
  }).outputText;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, cached); // atomic: concurrent children never read half a file
  } catch {
    // an unwritable cache only costs time
  }
  return out;
}

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = function compileTs(module, file) {
    module._compile(transpile(fs.readFileSync(file, 'utf8'), file), file);
  };
}
