/**
 * Opens an HTML report in headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core; never a downloaded browser) and reports console errors,
 * page errors, network requests other than file:// ones, and whether each
 * chart canvas has any drawn pixel. Used by the tests.
 */
import { type Browser, chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

/** What the browser saw. */
export interface BrowserCheck {
  errors: string[];
  /** Requests that left the file (a self-contained report makes none). */
  externalRequests: string[];
  /** Per chart canvas: width, height and count of non-transparent sampled pixels. */
  canvases: { width: number; height: number; drawnPixels: number }[];
  title: string;
  /** Text of the element with id `verdict`, if any. */
  verdict: string | undefined;
  /** Per violation timeline (svg.timeline): the op ids drawn as bars with a non-empty box. */
  timelines: { id: string; drawnOps: string[] }[];
  /** Text of `hover.read` after hovering `hover.selector`. */
  hoverText?: string;
}

/** Options of a check: where to save a screenshot of the page (PNG), and of which element. */
export interface BrowserCheckOptions {
  screenshot?: { path: string; selector?: string };
  /** Hover the first element matching `selector`, then read the text of `read` (e.g. a tooltip panel). */
  hover?: { selector: string; read: string };
}

export const chromiumPath = '/usr/bin/chromium';

/** Loads `htmlPath` and inspects it; throws if Chromium cannot start. */
export async function checkInBrowser(htmlPath: string, options: BrowserCheckOptions = {}): Promise<BrowserCheck> {
  const [seen] = await checkPagesInBrowser([{ path: htmlPath, ...options }]);
  return seen!;
}

/** Loads several pages in one browser launch (a launch costs seconds on a loaded machine), one after another. */
export async function checkPagesInBrowser(
  pages: readonly ({ path: string } & BrowserCheckOptions)[],
): Promise<BrowserCheck[]> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
    timeout: 60_000,
  });
  try {
    const results: BrowserCheck[] = [];
    for (const page of pages) results.push(await inspectPage(browser, page.path, page));
    return results;
  } finally {
    await browser.close();
  }
}

async function inspectPage(browser: Browser, htmlPath: string, options: BrowserCheckOptions): Promise<BrowserCheck> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    const errors: string[] = [];
    const externalRequests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith('file:') && !request.url().startsWith('data:'))
        externalRequests.push(request.url());
    });
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load', timeout: 60_000 });
    // Evaluated in the page (a string, since this project's TypeScript has no DOM types).
    const canvases = (await page.evaluate(`[...document.querySelectorAll('canvas')].map((canvas) => {
      const context = canvas.getContext('2d');
      let drawnPixels = 0;
      if (context !== null && canvas.width > 0 && canvas.height > 0) {
        const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 28) if (data[i] > 0) drawnPixels++;
      }
      return { width: canvas.width, height: canvas.height, drawnPixels };
    })`)) as BrowserCheck['canvases'];
    const timelines = (await page.evaluate(`[...document.querySelectorAll('svg.timeline')].map((svg) => ({
      id: svg.id,
      drawnOps: [...svg.querySelectorAll('[data-op] rect')]
        .filter((rect) => { const box = rect.getBoundingClientRect(); return box.width > 0 && box.height > 0; })
        .map((rect) => rect.parentElement.dataset.op),
    }))`)) as BrowserCheck['timelines'];
    const verdict = (await page.evaluate(`document.getElementById('verdict')?.textContent ?? undefined`)) as
      | string
      | undefined;
    let hoverText: string | undefined;
    if (options.hover !== undefined) {
      await page.locator(options.hover.selector).first().hover({ timeout: 10_000 });
      hoverText = (await page.locator(options.hover.read).textContent({ timeout: 10_000 })) ?? undefined;
    }
    if (options.screenshot !== undefined) {
      const target = options.screenshot.selector === undefined ? page : page.locator(options.screenshot.selector);
      await target.screenshot({
        path: options.screenshot.path,
        ...(options.screenshot.selector === undefined ? { fullPage: true } : {}),
      });
    }
    const title = await page.title();
    return {
      errors,
      externalRequests,
      canvases,
      timelines,
      title,
      verdict,
      ...(hoverText !== undefined ? { hoverText } : {}),
    };
  } finally {
    await page.close();
  }
}
