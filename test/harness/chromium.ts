import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium; CI installs the `chromium` package. */
export function chromiumPath(): string {
  const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium at ${candidates.join(' or ')}: the dashboard tests drive Debian's Chromium; install it with "apt-get update && apt-get install -y chromium"`,
    );
  }
  return found;
}

/** Launches Debian's Chromium, headless, through playwright-core. */
export function launchChromium(): Promise<Browser> {
  // Chromium's sandbox needs user namespaces, which a root user in a container does not get.
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}
