// Lists the CPU sources that both native builds compile (node-gyp reads this through
// binding.gyp's command expansion, so adding a .cc file never means editing the build files).
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const dirs = ['native/core', 'native/cpu', 'native/napi'];
const files = [];
for (const d of dirs) {
  const abs = path.join(root, d);
  if (!fs.existsSync(abs)) continue;
  for (const f of fs.readdirSync(abs).sort()) if (f.endsWith('.cc')) files.push(`${d}/${f}`);
}
process.stdout.write(files.join(' ') + '\n');
