// Headless Chromium (playwright-core) for the web client's tests: one browser
// per file, a fresh profile (its own storage) per user, and the few steps
// every test takes, named for what a user does.
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const WAIT_MS = 20000;

// What Chromium reported breaking the Content-Security-Policy (it logs each
// refusal to the console) since the last test ended: any fails that test,
// so that the client keeps working under the policy the backend sends.
const cspViolations = [];
afterEach(() => {
	if (cspViolations.length) {
		throw new Error(`Content-Security-Policy violations:\n${cspViolations.splice(0).join('\n')}`);
	}
});

// media: fake camera and microphone, granted without asking, and playback
// without a gesture (the calls' tests).
export function launch({ media = false } = {}) {
	const fake = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
		'--autoplay-policy=no-user-gesture-required'];
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
			'--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
			...(media ? fake : [])],
	});
}

// A new page; in a fresh profile unless context is given (a second tab of
// the same browser). Uncaught page errors are collected in page.errors so
// that a test can insist on none.
export async function openPage(browser, url, { context = null, colorScheme = 'light' } = {}) {
	const ctx = context ?? await browser.newContext({ viewport: { width: 1100, height: 720 }, colorScheme });
	ctx.setDefaultTimeout(WAIT_MS);
	const page = await ctx.newPage();
	page.errors = [];
	page.on('pageerror', (error) => page.errors.push(error.message));
	// Chromium's own report of a refusal does not reach Playwright's console
	// events: the page's securitypolicyviolation event does, through this.
	await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => {
		console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
	}));
	page.on('console', (msg) => {
		if (/^Content Security Policy violation/.test(msg.text())) cspViolations.push(`${page.url()}: ${msg.text()}`);
	});
	await page.goto(url);
	return page;
}

// Picks one of the login form's three ways in: 'guest', 'login', 'register'.
export async function chooseMode(page, mode) {
	await page.locator(`label[for="mode-${mode}"]`).click();
	assert.equal(await page.getByTestId(`login-mode-${mode}`).isChecked(), true);
}

export async function signIn(page, mode, name, password = '') {
	await chooseMode(page, mode);
	await page.getByTestId('login-user').fill(name);
	if (mode !== 'guest') await page.getByTestId('login-password').fill(password);
	await page.getByTestId('login-submit').click();
}

export function waitState(page, state, timeout = WAIT_MS) {
	return page.locator(`[data-testid="status"][data-state="${state}"]`).waitFor({ timeout });
}

export async function send(page, text) {
	await page.getByTestId('composer-input').fill(text);
	await page.getByTestId('send-button').click();
}

// The seqs of the confirmed messages on screen, top to bottom.
export function seqsOnScreen(page) {
	return page.locator('[data-testid="message"][data-seq]')
		.evaluateAll((items) => items.map((li) => Number(li.dataset.seq)));
}

export function textsOnScreen(page) {
	return page.locator('[data-testid="message-list"] [data-testid="message-text"]').allTextContents();
}

// Resolves once n confirmed messages are on screen, none of them still
// being decrypted (an encrypted DM's text comes after its item), or after
// timeout, so that the caller's comparison names what is missing.
export function atLeastMessages(page, n, timeout = WAIT_MS) {
	return page.waitForFunction((count) => document.querySelectorAll(
		'[data-testid="message"][data-seq]').length >= count
		&& !document.querySelector('[data-testid="message-decrypting"]'), n, { timeout }).catch(() => {});
}

export function roomItem(page, roomId) {
	return page.locator(`[data-testid="room-item"][data-room="${roomId}"]`);
}

// 1..n
export function range(n) {
	return Array.from({ length: n }, (_, i) => i + 1);
}
