// dashboard.js - drives Debian's Chromium (headless, through the npm package
// playwright-core, which downloads no browser) over the dashboard of a real
// `sweepq serve` whose sweep is running, and checks what a user would see.
//
// Usage: node dashboard.js BASE_URL TOKEN SWEEP OUT_DIR
//   BASE_URL  http://127.0.0.1:PORT (the server)
//   TOKEN     the read token (.sweepq/server.read-token)
//   SWEEP     the name of a sweep that is running: trials still to run, a
//             metric, some trials failing on purpose
//   OUT_DIR   where dashboard.png (the page at the end) and page.log go
// Env: CHROMIUM (default /usr/bin/chromium), DASHBOARD_PNG (also save the
// final screenshot there, e.g. docs/dashboard.png), DASHBOARD_STOP and
// DASHBOARD_START (shell commands that stop the server and start it again on
// the same address: when given, the page must say it is offline and then
// carry on by itself; they must not leave output pipes open).
//
// Prints one "ok - NAME" line per check that passed and "not ok - NAME:
// why" for the first that failed (the later ones need it), then exits 0 only
// if all passed. The tests/e2e/t073x scripts read these lines. Every wait has
// a deadline; no check depends on timing beyond "within the deadline".
'use strict';
const { execSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, sweep, outDir] = process.argv.slice(2);
if (!base || !token || !sweep || !outDir) {
    console.error('usage: node dashboard.js BASE_URL TOKEN SWEEP OUT_DIR');
    process.exit(2);
}
const WAIT = 30000; // ms, for anything that comes with the next polls
const logLines = [];

function ok(name) { console.log('ok - ' + name); }

// Counts the painted pixels of a canvas (not transparent and not white).
async function paintedPixels(page, selector) {
    return page.$eval(selector, (c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
            if (d[i + 3] > 0 && !(d[i] > 245 && d[i + 1] > 245 && d[i + 2] > 245)) n++;
        return n;
    });
}

async function rowStates(page) {
    return page.$$eval('#trials tbody tr', (rows) => rows.map((r) => r.dataset.state));
}

async function doneCount(page) {
    return Number(await page.textContent('#sweep-counts [data-state="done"] b'));
}

async function check(name, fn) {
    try {
        await fn();
    } catch (e) {
        console.log(`not ok - ${name}: ${String(e.message || e).split('\n')[0]}`);
        e.reported = true;
        throw e;
    }
    ok(name);
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        // --no-sandbox: needed as root; the rest keep Chromium off the network.
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
    try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        page.on('console', (m) => logLines.push(`console.${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => logLines.push(`pageerror: ${e.message}`));
        page.on('requestfailed', (r) => logLines.push(`requestfailed: ${r.url()}`));
        page.setDefaultTimeout(WAIT);

        await check('without a token the page asks for one, and takes a pasted one', async () => {
            // in a context of its own, so its sessionStorage is not the main page's
            const ctx = await browser.newContext();
            try {
                const p2 = await ctx.newPage();
                await p2.goto(base + '/');
                await p2.waitForSelector('#token-form:not(.hidden)');
                await p2.fill('#token-input', 'not-the-token');
                await p2.click('#token-entry button');
                await p2.waitForSelector('#live.bad');
                await p2.waitForFunction(() => document.querySelector('#live-text').textContent === 'token refused');
                await p2.fill('#token-input', token);
                await p2.click('#token-entry button');
                await p2.waitForSelector(`#sweeps tbody tr[data-name="${sweep}"]`);
                if (!(await p2.isHidden('#token-form'))) throw new Error('the token form stayed');
            } finally {
                await ctx.close();
            }
            await page.goto(base + '/');
            await page.waitForSelector('#token-form:not(.hidden)');
        });

        await check('the sweep list loads with the token from the fragment', async () => {
            await page.goto(base + '/#token=' + token);
            await page.waitForSelector(`#sweeps tbody tr[data-name="${sweep}"]`);
            const label = await page.textContent(`#sweeps tbody tr[data-name="${sweep}"] .progress .label`);
            if (!/^\d+ \/ \d+$/.test(label)) throw new Error(`progress label '${label}'`);
            const url = page.url();
            if (url.includes(token)) throw new Error(`the token stayed in the address bar: ${url}`);
        });

        await check('agents are listed with their last heartbeat and GPUs', async () => {
            await page.waitForSelector('#agents tbody tr');
            await page.waitForFunction(() =>
                [...document.querySelectorAll('#agents tbody tr')].some((r) => /ago/.test(r.textContent) &&
                    r.querySelector('ul.gpus li')));
            await page.screenshot({ path: path.join(outDir, 'home.png'), fullPage: true });
        });

        await check('the trial table draws with rows', async () => {
            await page.click(`#sweeps tbody tr[data-name="${sweep}"] a`);
            await page.waitForSelector('#trials tbody tr');
            const n = (await rowStates(page)).length;
            if (n < 2) throw new Error(`${n} rows`);
        });

        await check('live progress moves', async () => {
            const first = await doneCount(page);
            await page.waitForFunction((n) =>
                Number(document.querySelector('#sweep-counts [data-state="done"] b').textContent) > n,
            first, { timeout: 60000 });
            const polls = Number(await page.getAttribute('body', 'data-polls'));
            if (!(polls >= 2)) throw new Error(`only ${polls} polls`);
        });

        await check('the parallel-coordinates plot draws', async () => {
            await page.waitForFunction(() => Number(document.querySelector('#parcoords').dataset.lines) >= 2);
            const px = await paintedPixels(page, '#parcoords');
            if (px < 1000) throw new Error(`only ${px} painted pixels`);
        });

        await check("every trial's curve of the metric is overlaid by step", async () => {
            await page.waitForFunction(() => Number(document.querySelector('#overlay').dataset.trials) >= 2);
            const px = await paintedPixels(page, '#overlay canvas');
            if (px < 1000) throw new Error(`only ${px} painted pixels`);
            const title = await page.textContent('#overlay-metric');
            if (title !== 'loss') throw new Error(`the overlay shows '${title}', not the sweep's metric`);
        });

        await check('a line of the parallel coordinates names its trial and selects it', async () => {
            // the middle of the first segment of the line drawn last (the best)
            const hit = await page.evaluate(() => {
                const lines = window.sweepqDashboard.pcLines;
                const l = lines[lines.length - 1];
                const [a, b] = l.pts;
                const r = document.querySelector('#parcoords').getBoundingClientRect();
                return { number: l.trial.number, x: r.left + (a[0] + b[0]) / 2, y: r.top + (a[1] + b[1]) / 2 };
            });
            await page.mouse.move(hit.x, hit.y);
            const tip = await page.textContent('#pc-tip');
            if (!tip.startsWith(`trial ${hit.number}:`)) throw new Error(`tooltip '${tip}' for trial ${hit.number}`);
            await page.mouse.click(hit.x, hit.y);
            await page.waitForFunction((n) => location.hash.endsWith('/trial/' + n), hit.number);
            await page.waitForSelector(`#trials tbody tr.selected[data-number="${hit.number}"]`);
            await page.waitForFunction(() => document.querySelectorAll('#attempts tbody tr').length >= 1);
        });

        await check('filtering by state changes the rows', async () => {
            await page.waitForFunction(() => document.querySelector('#trials tbody tr[data-state="failed"]'));
            const all = (await rowStates(page)).length;
            await page.selectOption('#state-filter', 'failed');
            const failed = await rowStates(page);
            if (!failed.length || failed.length >= all || failed.some((s) => s !== 'failed'))
                throw new Error(`failed filter: ${failed.length} rows of ${all}: ${failed}`);
            await page.selectOption('#state-filter', 'succeeded');
            const ok2 = await rowStates(page);
            if (!ok2.length || ok2.some((s) => s !== 'succeeded'))
                throw new Error(`succeeded filter: ${ok2}`);
            await page.selectOption('#state-filter', '');
            const again = (await rowStates(page)).length;
            if (again < all) throw new Error(`${again} rows after clearing the filter, ${all} before`);
        });

        await check('searching the parameters keeps the matching rows', async () => {
            const all = (await rowStates(page)).length;
            await page.fill('#param-search', 'opt=sgd');
            const rows = await page.$$eval('#trials tbody tr', (rs) => rs.map((r) => r.textContent));
            if (!rows.length || rows.length >= all || rows.some((t) => !t.includes('sgd')))
                throw new Error(`${rows.length} of ${all} rows`);
            await page.fill('#param-search', '');
        });

        await check('sorting by the metric column orders the rows', async () => {
            await page.click('#trials thead th[data-key="metric"]');
            const idx = await page.$$eval('#trials thead th', (ths) => ths.findIndex((t) => t.dataset.key === 'metric'));
            const read = () => page.$$eval('#trials tbody tr', (rs, i) => rs.map((r) => r.children[i].textContent)
                .filter((t) => t !== '').map(Number), idx);
            const asc = await read();
            if (asc.length < 2 || asc.some((v, i) => i && v < asc[i - 1])) throw new Error(`ascending: ${asc}`);
            await page.click('#trials thead th[data-key="metric"]');
            const desc = await read();
            if (desc.some((v, i) => i && v > desc[i - 1])) throw new Error(`descending: ${desc}`);
        });

        await check('a trial shows its metric curves', async () => {
            // the best finished trial (first in descending order is the worst
            // for a minimized metric, so sort ascending again)
            await page.click('#trials thead th[data-key="metric"]');
            await page.click('#trials tbody tr[data-state="succeeded"]');
            await page.waitForSelector('#trial-curves:not(.hidden) #curves canvas');
            await page.waitForFunction(() => document.querySelectorAll('#curves .curve').length >= 2);
            const px = await paintedPixels(page, '#curves .curve canvas');
            if (px < 300) throw new Error(`only ${px} painted pixels`);
        });

        await check('the log viewer shows the trial\'s output', async () => {
            await page.waitForFunction(() => /step=\d+ loss=/.test(document.querySelector('#log').textContent));
        });

        if (process.env.DASHBOARD_STOP && process.env.DASHBOARD_START) {
            await check('the page says when the server is gone and carries on when it is back', async () => {
                execSync(process.env.DASHBOARD_STOP, { stdio: 'ignore' });
                await page.waitForSelector('#live.bad');
                const polls = Number(await page.getAttribute('body', 'data-polls'));
                execSync(process.env.DASHBOARD_START, { stdio: 'ignore' });
                await page.waitForFunction((n) => Number(document.body.dataset.polls) >= n + 2 &&
                    document.querySelector('#live.ok') && document.querySelector('#error.hidden'),
                polls, { timeout: 60000 });
                await page.waitForSelector('#trials tbody tr');
            });
        }

        await check('the page ran without script errors', async () => {
            // (a refused or missing resource is logged as a console error by
            // Chromium itself; those are the server's answers, not script errors)
            const errs = logLines.filter((l) => l.startsWith('pageerror') ||
                (l.startsWith('console.error') && !l.includes('Failed to load resource')));
            if (errs.length) throw new Error(errs.join(' | '));
        });

        if (process.env.DASHBOARD_PNG) {
            // the picture for docs/: let most of the sweep run first, so
            // the plots have lines (not a check: no failure if it is slow)
            await page.waitForFunction(() => {
                const b = document.querySelector('.sweep-head .progress .label').textContent;
                const [done, total] = b.split('/').map(Number);
                return done >= 0.6 * total;
            }, null, { timeout: 120000 }).catch(() => {});
            await page.waitForTimeout(2500); // one more poll, for the curves and log
        }
        const shot = path.join(outDir, 'dashboard.png');
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: shot, fullPage: true });
        if (process.env.DASHBOARD_PNG) fs.copyFileSync(shot, process.env.DASHBOARD_PNG);
        ok('screenshot ' + shot);
    } finally {
        fs.writeFileSync(path.join(outDir, 'page.log'), logLines.join('\n') + '\n');
        await browser.close();
    }
}

main().catch((e) => {
    if (!e.reported) console.error(e);
    process.exit(1);
});
