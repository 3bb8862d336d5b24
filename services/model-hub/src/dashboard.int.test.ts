import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CameraSnapshotMeta } from '@storevision/contracts';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDayStart } from './services/rollup.ts';
import {
  multipart,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
} from './testing/hub-fixture.ts';
import { eventBatch, eventFactory } from './testing/store-events.ts';

/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is downloaded): a hub seeded with a store's events of today and of the same day last
 * week, a viewer signing in with a token, the numbers on screen, a live update over SSE, both
 * languages, and a camera's latest picture with its overlay. Screenshots go to test-results/
 * (git-ignored) as artefacts.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTEFACTS = fileURLToPath(new URL('../../../test-results/', import.meta.url));
const databases = testDatabases();

let t: TestHub;
let url: string;
let viewerToken: string;
let browser: Browser;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const STORE = 'sh-jingan';

async function upload(events: unknown[], storeId = STORE) {
  const res = await t.hub.app.inject({
    method: 'POST',
    url: '/v1/events/batch',
    headers: admin,
    payload: eventBatch(storeId, events),
  });
  if (res.statusCode !== 200 || res.json().accepted !== events.length) throw new Error(res.body);
}

beforeAll(async () => {
  t = await startTestHub((dir) => databases.url('sqlite', dir));
  await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.hub.app.server.address() as { port: number }).port}`;
  viewerToken = await t.token('viewer');
  for (const [id, name] of [
    [STORE, 'Hema Jing’an'],
    ['bj-chaoyang', 'Hema Chaoyang'],
  ])
    await t.hub.app.inject({
      method: 'PUT',
      url: `/v1/stores/${id}`,
      headers: admin,
      payload: { name, timezone: 'Asia/Shanghai' },
    });
  // Events of today (store-local) and of the same day last week.
  const now = Date.now();
  const base = Math.max(localDayStart(now, 'Asia/Shanghai'), now - 10 * 60_000);
  const at = (s: number) => new Date(base + s * 1000).toISOString();
  const ev = eventFactory({ storeId: STORE, cameraId: 'door' });
  const shelf = eventFactory({ storeId: STORE, cameraId: 'aisle' });
  await upload([
    ...Array.from({ length: 7 }, (_, i) => ev.crossing(at(i), 'entrance', 'in', i + 1)),
    ...Array.from({ length: 3 }, (_, i) => ev.crossing(at(10 + i), 'entrance', 'out', i + 1)),
    // Occupancy is time-weighted: both zones report at the same time, so every 5-minute bucket
    // holds both (3 + 2 = 5 in the store), wherever the bucket boundaries fall.
    shelf.occupancy(at(20), 'fresh', 3),
    shelf.occupancy(at(20), 'dairy', 2),
    shelf.exit(at(30), 'fresh', 45),
    shelf.exit(at(31), 'dairy', 80),
    shelf.queue(at(40), 'checkout', 4, 90),
    shelf.alert(at(50), 'fresh', 'raised'),
    ...Array.from({ length: 4 }, (_, i) =>
      ev.crossing(new Date(base - 7 * 86_400_000 + i * 1000).toISOString(), 'entrance', 'in', 50 + i),
    ),
  ]);
  await upload([eventFactory({ storeId: 'bj-chaoyang' }).crossing(at(5), 'door', 'in')], 'bj-chaoyang');
  await mkdir(ARTEFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.dispose();
  await databases.stop();
});

async function signIn(page: Page) {
  await page.goto(url);
  await page.getByTestId('token').fill(viewerToken);
  await page.getByTestId('login-submit').click();
}

describe('dashboard in headless Chromium', () => {
  it('signs in with a token, shows every store with today’s numbers, and a store’s charts', async () => {
    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const t0 = Date.now();
    await signIn(page);
    const row = page.locator(`tr[data-store="${STORE}"]`);
    await expect.poll(() => row.getByTestId('today-in').textContent()).toBe('7');
    const firstView = Date.now() - t0;
    await expect
      .poll(() => page.locator('tr[data-store="bj-chaoyang"] [data-testid="today-in"]').textContent())
      .toBe('1');
    expect(await row.textContent()).toContain('Hema Jing’an');
    expect(await page.locator('h1').textContent()).toBe('All stores');
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-stores-en.png'), fullPage: true });

    await row.getByRole('link').click();
    await expect.poll(() => page.getByTestId('footfall-in').textContent()).toBe('7');
    expect(await page.getByTestId('store-name').textContent()).toBe('Hema Jing’an');
    expect(await page.getByTestId('footfall-out').textContent()).toBe('3');
    expect(await page.getByTestId('occupancy-now').textContent()).toBe('5');
    expect(await page.getByTestId('alerts-today').textContent()).toBe('1');
    // Five ECharts charts drew on canvas.
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(5);
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-store-en.png'), fullPage: true });
    expect(errors).toEqual([]);
    // The first view: from navigation to the numbers on screen, sign-in included.
    expect(firstView).toBeLessThan(5000);
    // Fleet and models views render (nodes from the events' heartbeats; the registry is empty).
    await page.goto(`${url}/#/fleet`);
    // The seeding uploads both stores' events as node-1: one row per store.
    await expect.poll(() => page.locator('[data-testid="fleet"] tr[data-node="node-1"]').count()).toBe(2);
    await page.goto(`${url}/#/models`);
    await expect.poll(() => page.getByTestId('rollouts').count()).toBe(1);
    expect(errors).toEqual([]);
    await writeFile(
      path.join(ARTEFACTS, 'dashboard-timing.json'),
      `${JSON.stringify({ firstViewMs: firstView, note: 'cold cache, sign-in included' })}\n`,
    );
    await context.close();
  });

  it('updates live over SSE when new events arrive, without reloading', async () => {
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${url}/#/store/${STORE}`);
    await expect.poll(() => page.getByTestId('footfall-in').textContent()).toBe('7');
    await expect.poll(() => page.locator('#live').getAttribute('data-state')).toBe('on');
    const marker = await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 42;
      return 42;
    });
    await upload([
      eventFactory({ storeId: STORE, cameraId: 'door-2' }).crossing(
        new Date().toISOString(),
        'entrance',
        'in',
      ),
    ]);
    await expect.poll(() => page.getByTestId('footfall-in').textContent(), { timeout: 10_000 }).toBe('8');
    // Same document: not a reload.
    expect(await page.evaluate(() => (globalThis as unknown as { marker: number }).marker)).toBe(marker);
    await context.close();
  });

  it('speaks Simplified Chinese from the browser’s language and switches back to English', async () => {
    const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signIn(page);
    await expect.poll(() => page.locator('h1').textContent()).toBe('全部门店');
    await page.goto(`${url}/#/store/${STORE}`);
    await expect
      .poll(() => page.locator('.card h2').first().textContent())
      .toBe('每小时客流：今天与上周同日');
    expect(await page.locator('nav a').first().textContent()).toBe('门店');
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-store-zh.png'), fullPage: true });
    await page.locator('#lang').click();
    await expect
      .poll(() => page.locator('.card h2').first().textContent())
      .toBe('Footfall by hour: today vs same day last week');
    expect(await page.locator('nav a').first().textContent()).toBe('Stores');
    // The choice sticks.
    await page.reload();
    await expect.poll(() => page.locator('nav a').first().textContent()).toBe('Stores');
    await context.close();
  });

  it('lists a store’s cameras and shows one camera’s live counts per zone and per line', async () => {
    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page);
    await page.goto(`${url}/#/store/${STORE}`);
    const cameras = page.getByTestId('cameras');
    await expect.poll(() => cameras.locator('li[data-camera="door"]').count()).toBe(1);
    expect(await cameras.locator('li[data-camera="aisle"]').count()).toBe(1);
    // Only this store's cameras (bj-chaoyang's `cam-a` is not listed).
    expect(await cameras.locator('li[data-camera="cam-a"]').count()).toBe(0);

    await cameras.locator('li[data-camera="door"] a').click();
    await expect.poll(() => page.getByTestId('camera-name').textContent()).toBe('Camera door');
    const entrance = page.locator('tr[data-line="entrance"]');
    await expect.poll(() => entrance.getByTestId('line-in').textContent()).toBe('7');
    expect(await entrance.getByTestId('line-out').textContent()).toBe('3');
    // No edge sent a picture of this camera: the view says so instead of a broken image.
    expect(await page.getByTestId('snapshot-none').isVisible()).toBe(true);
    expect(await page.getByTestId('snapshot-image').count()).toBe(0);

    await page.goto(`${url}/#/store/${STORE}/camera/aisle`);
    await expect
      .poll(() => page.locator('tr[data-zone="fresh"] [data-testid="zone-now"]').textContent())
      .toBe('3');
    expect(await page.locator('tr[data-zone="dairy"] [data-testid="zone-now"]').textContent()).toBe('2');
    expect(await page.locator('tr[data-line]').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-camera-en.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('draws a camera’s latest picture with its boxes, zones and lines, and swaps it live', async () => {
    const fixture = new URL('./testing/fixtures/', import.meta.url);
    const jpeg = await readFile(new URL('camera-snapshot.jpg', fixture));
    const meta = JSON.parse(
      await readFile(new URL('camera-snapshot.json', fixture), 'utf8'),
    ) as CameraSnapshotMeta;
    const put = async (m: typeof meta) => {
      const form = multipart([
        { name: 'meta', value: JSON.stringify(m) },
        { name: 'image', filename: 'snapshot.jpg', content: jpeg, contentType: 'image/jpeg' },
      ]);
      const res = await t.hub.app.inject({
        method: 'PUT',
        url: `/v1/stores/${STORE}/cameras/aisle/snapshot`,
        headers: { ...admin, ...form.headers },
        payload: form.payload,
      });
      if (res.statusCode !== 200) throw new Error(res.body);
    };
    await put(meta);
    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 1100 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page);
    await page.goto(`${url}/#/store/${STORE}/camera/aisle`);
    const figure = page.getByTestId('snapshot');
    await expect.poll(() => figure.getAttribute('data-frame')).toBe(meta.frameId);
    // The picture itself loaded (the <img> asked the hub with the viewer's cookie).
    const img = page.getByTestId('snapshot-image');
    await expect
      .poll(() =>
        img.evaluate((el) => {
          const i = el as unknown as { complete: boolean; naturalWidth: number };
          return i.complete ? i.naturalWidth : 0;
        }),
      )
      .toBe(640);
    // One box per person uploaded, each zone's polygon, each line.
    const overlay = page.getByTestId('snapshot-overlay');
    expect(await overlay.locator('rect.box').count()).toBe(meta.boxes.length);
    expect(await overlay.locator('polygon.zone').count()).toBe(meta.zones.length);
    expect(await overlay.locator('line.line').count()).toBe(meta.lines.length);
    const zone = meta.zones[0]!;
    expect(await overlay.locator(`polygon[data-zone="${zone.id}"]`).getAttribute('points')).toBe(
      zone.polygon
        .map(([x, y]: [number, number]) => `${(x * 640).toFixed(1)},${(y * 360).toFixed(1)}`)
        .join(' '),
    );
    expect(await overlay.locator(`text[data-zone-label="${zone.id}"]`).textContent()).toBe(
      `${zone.id} · ${zone.occupancy}`,
    );
    // The overlay sits exactly on the picture (same box on screen).
    const [ib, ob] = await Promise.all([img.boundingBox(), overlay.boundingBox()]);
    expect(ob).toEqual(ib);
    await expect.poll(() => page.locator('#live').getAttribute('data-state')).toBe('on');
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-camera-snapshot-en.png'), fullPage: true });

    // A newer snapshot arrives: the picture and its overlay change in place (SSE), no reload.
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 7;
    });
    await put({
      ...meta,
      frameId: 'fixture-81',
      capturedAt: new Date(Date.parse(meta.capturedAt) + 10_000).toISOString(),
      boxes: meta.boxes.slice(0, 1),
    });
    await expect.poll(() => figure.getAttribute('data-frame'), { timeout: 10_000 }).toBe('fixture-81');
    expect(await overlay.locator('rect.box').count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as { marker: number }).marker)).toBe(7);

    // In Chinese too (the bootstrap installs a CJK font, so the screenshot shows characters).
    await page.locator('#lang').click();
    await expect.poll(() => page.locator('.card h2').first().textContent()).toBe('最新画面');
    await expect.poll(() => figure.getAttribute('data-frame')).toBe('fixture-81');
    await page.screenshot({ path: path.join(ARTEFACTS, 'dashboard-camera-snapshot-zh.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows a viewer scoped to one store only that store, and nothing of the other', async () => {
    const res = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: admin,
      payload: { role: 'viewer', label: 'bj-manager', stores: ['bj-chaoyang'] },
    });
    const scoped = res.json().token as string;
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(url);
    await page.getByTestId('token').fill(scoped);
    await page.getByTestId('login-submit').click();
    await expect
      .poll(() => page.locator('tr[data-store="bj-chaoyang"] [data-testid="today-in"]').textContent())
      .toBe('1');
    expect(await page.locator('tr[data-store]').count()).toBe(1);
    expect(await page.locator('main').textContent()).not.toContain('Jing’an');
    // Asking for the other store by its address shows an error, not its numbers.
    await page.goto(`${url}/#/store/${STORE}`);
    await expect.poll(() => page.locator('main .error').count()).toBe(1);
    expect(await page.getByTestId('footfall-in').count()).toBe(0);
    await page.goto(`${url}/#/store/${STORE}/camera/door`);
    await expect.poll(() => page.locator('main .error').count()).toBe(1);
    expect(await page.locator('tr[data-line]').count()).toBe(0);
    // The fleet shows its own store's node only.
    await page.goto(`${url}/#/fleet`);
    await expect.poll(() => page.locator('[data-testid="fleet"] tr[data-node="node-1"]').count()).toBe(1);
    expect(await page.locator('[data-testid="fleet"]').textContent()).not.toContain(STORE);
    await context.close();
  });

  it('refuses a wrong token and shows no data', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.getByTestId('token').fill('svh_not-a-real-token');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('login-error').isVisible()).toBe(true);
    expect(await page.locator('table').count()).toBe(0);
    await context.close();
  });
});
