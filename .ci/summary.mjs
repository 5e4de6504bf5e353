// Prints one plain summary line from vitest's JUnit reports (one per Node
// version the suite ran on), added up:
//   tests: 42 passed, 0 failed, 0 skipped
import { readFileSync } from 'node:fs';

const xml = process.argv
  .slice(2)
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');
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
