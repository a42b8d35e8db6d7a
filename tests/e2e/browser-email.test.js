// The email part of the settings in the web client (client/email-settings.js,
// shown in the notification settings): add an address, see "check your inbox",
// confirm it through the mailed link, see where mail goes, remove it; and
// what a server without email says.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn } from './lib/browser.js';
import { startMailSink } from './lib/mailsink.js';

let browser;
let sink;
let stack;

before(async () => {
	browser = await launch();
	sink = await startMailSink();
	stack = await startStack({
		backendEnv: {
			STATEROOM_SMTP_URL: sink.url, STATEROOM_SMTP_FROM: 'chat@stateroom.test',
			STATEROOM_PUBLIC_URL: 'https://chat.stateroom.test',
		},
	});
});

after(async () => {
	await browser?.close();
	await stack?.stop();
	await sink?.stop();
});

async function until(pred, what, timeoutMs = 20000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

test('a user adds an address in the notification settings, confirms it from the mail, and removes it', async () => {
	const user = await register(stack, 'em');
	const page = await openPage(browser, stack.backendUrl);
	await signIn(page, 'login', user.id, 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	await page.getByTestId('notify-button').click();
	const section = page.getByTestId('notify-email');
	await section.getByText('Add an address').waitFor();

	const address = `${user.id.toLowerCase()}@mail.stateroom.test`;
	await section.getByLabel('Email address').fill(address);
	await section.getByRole('button', { name: 'Send confirmation link' }).click();
	await section.getByText(`Check your inbox: we sent a confirmation link to ${address}.`).waitFor();

	// Asking again at once: the server's limit, said in words.
	await section.getByRole('button', { name: 'Send the link again' }).click();
	await section.getByText(/wait \d+ s before asking for another/).waitFor();

	const mail = await until(() => sink.to(address)[0], 'the confirmation mail');
	const link = /https:\/\/chat\.stateroom\.test(\/api\/email\/verify\?token=[A-Za-z0-9_-]+)/.exec(mail.text)[1];
	const confirm = await browser.newPage();
	await confirm.goto(`${stack.backendUrl}${link}`);
	await confirm.getByRole('heading', { name: 'Your address is confirmed' }).waitFor();
	await confirm.close();

	// Opened again, the settings show where mail goes.
	await page.getByTestId('notify-close').click();
	await page.getByTestId('notify-button').click();
	await section.getByText(`Emails go to ${address}.`).waitFor();
	assert.equal(await section.getByLabel('Email address').isVisible(), false);

	await section.getByRole('button', { name: 'Remove address' }).click();
	await section.getByText('Add an address').waitFor();
	await page.close();
});
