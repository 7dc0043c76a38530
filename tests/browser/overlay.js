// overlay.js - drives Debian's Chromium (headless, playwright-core) over the
// sweep view of a real `sweepq serve` and checks the chart that overlays
// every trial's curve of the sweep's metric by step, with a cross where each
// stopped trial was stopped (tests/e2e/t1024).
//
// Usage: node overlay.js BASE_URL TOKEN SWEEP TRIALS STOPPED OUT_DIR
//   TRIALS   how many trials have reported the metric by step
//   STOPPED  how many of them were stopped (state stopped)
// Env: CHROMIUM (default /usr/bin/chromium); OVERLAY_PNG=PATH also saves the
// final screenshot there.
// Prints "ok - NAME" per check that passed, "not ok - NAME: why" for the
// first that failed, and exits 0 only if all passed.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, sweep, trials, stopped, outDir] = process.argv.slice(2);
const WAIT = 30000;
const logLines = [];

async function check(name, fn) {
    try {
        await fn();
    } catch (e) {
        console.log(`not ok - ${name}: ${String(e.message || e).split('\n')[0]}`);
        e.reported = true;
        throw e;
    }
    console.log('ok - ' + name);
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
    try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        page.on('pageerror', (e) => logLines.push(`pageerror: ${e.message}`));
        page.setDefaultTimeout(WAIT);
        await page.goto(`${base}/#token=${token}`);
        await page.goto(`${base}/#/sweep/${encodeURIComponent(sweep)}`);

        await check('the overlay draws every trial that reported the metric', async () => {
            await page.waitForFunction((n) => Number(document.querySelector('#overlay').dataset.trials) === n,
                Number(trials));
            const px = await page.$eval('#overlay canvas', (c) => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4)
                    if (d[i + 3] > 0 && !(d[i] > 245 && d[i + 1] > 245 && d[i + 2] > 245)) n++;
                return n;
            });
            if (px < 1000) throw new Error(`only ${px} painted pixels`);
        });

        await check('each stopped trial is marked where it stopped', async () => {
            const n = await page.$eval('#overlay', (o) => Number(o.dataset.stopped));
            if (n !== Number(stopped)) throw new Error(`${n} stopped marks, want ${stopped}`);
            // the crosses are the only pixels of their red (#c92a2a)
            const red = await page.$eval('#overlay canvas', (c) => {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let k = 0;
                for (let i = 0; i < d.length; i += 4)
                    if (Math.abs(d[i] - 0xc9) < 12 && Math.abs(d[i + 1] - 0x2a) < 12 && Math.abs(d[i + 2] - 0x2a) < 12) k++;
                return k;
            });
            if (Number(stopped) > 0 && red < 10 * Number(stopped)) throw new Error(`only ${red} pixels of the crosses`);
        });

        await check('the table says where a stopped trial stopped', async () => {
            await page.selectOption('#state-filter', 'stopped');
            const cells = await page.$$eval('#trials tbody tr', (rs) => rs.map((r) => r.children[1].textContent));
            if (cells.length !== Number(stopped) || cells.some((c) => !/^stopped@\d+$/.test(c)))
                throw new Error(`stopped rows: ${cells}`);
            await page.selectOption('#state-filter', '');
        });

        await check('the page ran without script errors', async () => {
            if (logLines.length) throw new Error(logLines.join(' | '));
        });
        const shot = path.join(outDir, 'overlay.png');
        await page.screenshot({ path: shot, fullPage: true });
        if (process.env.OVERLAY_PNG) fs.copyFileSync(shot, process.env.OVERLAY_PNG);
    } finally {
        fs.writeFileSync(path.join(outDir, 'page.log'), logLines.join('\n') + '\n');
        await browser.close();
    }
}

main().catch((e) => {
    if (!e.reported) console.error(e);
    process.exit(1);
});
