// Prints one plain summary line from vitest's JUnit report:
//   tests: 42 passed, 0 failed, 0 skipped
import { readFileSync } from 'node:fs';

const xml = readFileSync(process.argv[2], 'utf8');
let total = 0;
let failed = 0;
let skipped = 0;
for (const [tag] of xml.matchAll(/<testsuite\b[^>]*>/g)) {
  const attr = (name) => Number(tag.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
  total += attr('tests');
  failed += attr('failures') + attr('errors');
  skipped += attr('skipped');
}
console.log(`tests: ${total - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
