// The deployment files in scripts/deploy/ cannot be applied here (no
// Kubernetes, no container engine): they are linted with yamllint, parsed,
// and checked against each other and against the binaries they package
// (the environment variables the servers know, the libraries they link).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const DEPLOY = path.join(ROOT, 'scripts/deploy');
const MANIFESTS = path.join(DEPLOY, 'kubernetes');
const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');
const NAMESPACE = 'stateroom';

const files = fs.readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml')).sort();

// Every document of every manifest, parsed by PyYAML (yamllint's own parser).
function loadManifests() {
	const script = 'import json, sys, yaml\n'
		+ 'out = []\n'
		+ 'for f in sys.argv[1:]:\n'
		+ '    with open(f) as fh:\n'
		+ '        out += [{"file": f, "doc": d} for d in yaml.safe_load_all(fh) if d is not None]\n'
		+ 'print(json.dumps(out))\n';
	const text = execFileSync('python3', ['-c', script, ...files.map((f) => path.join(MANIFESTS, f))], { encoding: 'utf8' });
	return JSON.parse(text).map(({ file, doc }) => ({ file: path.basename(file), ...doc }));
}

const docs = loadManifests();
const one = (kind) => {
	const found = docs.filter((d) => d.kind === kind);
	assert.equal(found.length, 1, `one ${kind}`);
	return found[0];
};

// The environment variables a server reads, from its --help table.
function knownEnv(binary) {
	const help = execFileSync(path.join(BUILD, binary), ['--help'], { encoding: 'utf8' });
	return new Set([...help.matchAll(/^\s+--\S+\s+([A-Z][A-Z0-9_]+)\s/gm)].map((m) => m[1]));
}

test('yamllint passes on every manifest', () => {
	const r = spawnSync('yamllint', ['-c', path.join(DEPLOY, 'yamllint.yaml'), '-f', 'parsable', '-s', MANIFESTS], { encoding: 'utf8' });
	assert.ok(!r.error, `yamllint not runnable (scripts/setup installs it): ${r.error?.message}`);
	assert.equal(r.status, 0, r.stdout + r.stderr);
	assert.equal(r.stdout.trim(), '');
	assert.ok(files.length >= 7, `manifests: ${files.join(', ')}`);
});

test('every object has apiVersion, kind and a name, in the stateroom namespace', () => {
	const kinds = new Set(docs.map((d) => d.kind));
	for (const k of ['Namespace', 'Secret', 'ConfigMap', 'ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service', 'Fleet', 'FleetAutoscaler']) {
		assert.ok(kinds.has(k), `a ${k}`);
	}
	const apiVersions = {
		Namespace: 'v1', Secret: 'v1', ConfigMap: 'v1', ServiceAccount: 'v1', Service: 'v1',
		Role: 'rbac.authorization.k8s.io/v1', RoleBinding: 'rbac.authorization.k8s.io/v1',
		Deployment: 'apps/v1', Fleet: 'agones.dev/v1', FleetAutoscaler: 'autoscaling.agones.dev/v1',
	};
	for (const d of docs) {
		const where = `${d.file} ${d.kind}`;
		assert.equal(d.apiVersion, apiVersions[d.kind], where);
		assert.match(d.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, where);
		if (d.kind === 'Namespace') assert.equal(d.metadata.name, NAMESPACE);
		else assert.equal(d.metadata.namespace, NAMESPACE, where);
	}
});

test('RBAC: the backend may create GameServerAllocations and read GameServers, nothing more', () => {
	const sa = one('ServiceAccount');
	const role = one('Role');
	const binding = one('RoleBinding');
	const rules = role.rules.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: [...r.verbs].sort() }));
	assert.deepEqual(rules, [
		{ apiGroups: ['allocation.agones.dev'], resources: ['gameserverallocations'], verbs: ['create'] },
		{ apiGroups: ['agones.dev'], resources: ['gameservers'], verbs: ['get', 'list', 'watch'] },
	]);
	assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
	assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NAMESPACE }]);
	assert.equal(one('Deployment').spec.template.spec.serviceAccountName, sa.metadata.name);
});

// The environment of a container: its env entries and its ConfigMap's keys.
function containerEnv(container) {
	const config = one('ConfigMap');
	const names = (container.env ?? []).map((e) => e.name);
	for (const src of container.envFrom ?? []) {
		assert.equal(src.configMapRef?.name, config.metadata.name, 'envFrom names the ConfigMap');
		names.push(...Object.keys(config.data));
	}
	return names;
}

function checkSecretRefs(container) {
	const secret = one('Secret');
	for (const name of ['STATEROOM_SECRET', 'DATABASE_URL']) {
		const e = container.env.find((x) => x.name === name);
		assert.ok(e?.valueFrom?.secretKeyRef, `${container.name}: ${name} from the Secret`);
		assert.equal(e.valueFrom.secretKeyRef.name, secret.metadata.name);
		assert.ok(e.valueFrom.secretKeyRef.key in secret.stringData, `${name}: key ${e.valueFrom.secretKeyRef.key}`);
	}
}

test('backend Deployment and Service: labels match, secrets referenced, probes, non-root, only variables the backend knows', () => {
	const dep = one('Deployment');
	const svc = one('Service');
	const pod = dep.spec.template;
	assert.ok(dep.spec.replicas >= 1);
	for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert.equal(pod.metadata.labels[k], v);
	for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(pod.metadata.labels[k], v);
	assert.equal(pod.spec.securityContext.runAsNonRoot, true);
	assert.ok(pod.spec.securityContext.runAsUser > 0);
	const [c] = pod.spec.containers;
	assert.ok(c.image);
	const port = c.ports.find((p) => p.name === svc.spec.ports[0].targetPort);
	assert.ok(port, 'the Service targets a named container port');
	assert.equal(String(port.containerPort), c.env.find((e) => e.name === 'BACKEND_PORT').value);
	assert.equal(c.readinessProbe.httpGet.path, '/readyz');
	assert.equal(c.livenessProbe.httpGet.path, '/healthz');
	checkSecretRefs(c);
	const known = knownEnv('backend-server/stateroom-backend');
	const session = knownEnv('session-server/stateroom-session');
	for (const name of c.env.map((e) => e.name)) assert.ok(known.has(name), `backend knows ${name}`);
	for (const name of Object.keys(one('ConfigMap').data)) {
		assert.ok(known.has(name) || session.has(name), `a server knows ${name}`);
	}
	assert.equal(one('ConfigMap').data.STATEROOM_SCHEDULER, 'agones');
});

test('Fleet: a default port, the rooms counter and list, SESSION_ID from the pod name, sizes that agree', () => {
	const fleet = one('Fleet');
	const config = one('ConfigMap');
	const gs = fleet.spec.template.spec;
	assert.equal(fleet.spec.scheduling, 'Packed');
	assert.equal(config.data.STATEROOM_AGONES_FLEET, fleet.metadata.name);
	const [port] = gs.ports;
	assert.equal(port.name, 'default');
	assert.ok(['Dynamic', 'Passthrough', 'Static'].includes(port.portPolicy));
	assert.equal(gs.counters.rooms.capacity, Number(config.data.SESSION_MAX_ROOMS), 'counter capacity = rooms per server');
	assert.ok(gs.lists.rooms.capacity >= gs.counters.rooms.capacity && gs.lists.rooms.capacity <= 1000);
	const pod = gs.template.spec;
	assert.equal(pod.securityContext.runAsNonRoot, true);
	const [c] = pod.containers;
	const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
	assert.equal(env.SESSION_ID.valueFrom.fieldRef.fieldPath, 'metadata.name');
	assert.equal(env.SESSION_PORT.value, String(port.containerPort));
	checkSecretRefs(c);
	const known = knownEnv('session-server/stateroom-session');
	assert.ok(known.has('AGONES_SDK_HTTP_PORT'), 'the session server reads the SDK port Agones sets');
	const helpers = new Set(['POD_IP']);
	for (const name of c.env.map((e) => e.name)) assert.ok(known.has(name) || helpers.has(name), `session server knows ${name}`);
	assert.ok(containerEnv(c).includes('SESSION_MAX_ROOMS'));
});

test('FleetAutoscaler: a Counter policy on rooms for the fleet', () => {
	const fa = one('FleetAutoscaler');
	assert.equal(fa.spec.fleetName, one('Fleet').metadata.name);
	assert.equal(fa.spec.policy.type, 'Counter');
	const c = fa.spec.policy.counter;
	assert.equal(c.key, 'rooms');
	assert.ok(Number.isInteger(c.bufferSize) && c.bufferSize > 0);
	assert.ok(c.maxCapacity >= c.minCapacity && c.maxCapacity >= c.bufferSize);
});

// ---- the container build files ----------------------------------------------

function setupPackages() {
	const text = fs.readFileSync(path.join(ROOT, 'scripts/setup'), 'utf8');
	const m = /packages=\(([^)]*)\)/.exec(text);
	return m[1].split(/\s+/).filter(Boolean);
}

function stages(dockerfile) {
	const text = fs.readFileSync(path.join(DEPLOY, dockerfile), 'utf8').replace(/\\\n/g, ' ');
	return text.split(/^FROM /m).slice(1).map((s) => `FROM ${s}`);
}

function aptInstalls(stage) {
	const m = /apt-get install -y --no-install-recommends ([^&]+)/.exec(stage);
	return m ? m[1].trim().split(/\s+/) : [];
}

// The Debian package of every library the binary links directly.
function linkedPackages(binary) {
	const out = execFileSync('readelf', ['-d', path.join(BUILD, binary)], { encoding: 'utf8' });
	const libs = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
	const base = /^(libc|libm|libpthread|libdl|librt|libasan|libubsan|libgcc_s|libstdc\+\+)\.so/;
	return libs.filter((l) => !base.test(l)).map((lib) => {
		const owner = execFileSync('dpkg', ['-S', `*/${lib}`], { encoding: 'utf8' }).split('\n')[0];
		return { lib, pkg: owner.split(':')[0] };
	});
}

for (const [file, binary] of [['Dockerfile.backend', 'backend-server/stateroom-backend'], ['Dockerfile.session', 'session-server/stateroom-session']]) {
	test(`${file}: Debian bookworm, built with meson, runs as non-root with every library it links`, () => {
		const [build, run] = stages(file);
		assert.match(build, /^FROM debian:bookworm\b/);
		assert.match(run, /^FROM debian:bookworm(-slim)?\b/);
		assert.match(build, /meson setup /);
		assert.match(build, new RegExp(`ninja -C \\S+ ${binary.replace(/[/.]/g, '\\$&')}`));
		const buildPkgs = aptInstalls(build);
		for (const p of setupPackages().filter((x) => x.endsWith('-dev') || ['meson', 'ninja-build', 'pkg-config', 'build-essential'].includes(x))) {
			assert.ok(buildPkgs.includes(p), `${file} build stage installs ${p} (scripts/setup does)`);
		}
		const user = /^USER (\S+)/m.exec(run);
		assert.ok(user, 'a USER line');
		assert.ok(!/^(0|root)(:|$)/.test(user[1]), `runs as ${user[1]}`);
		assert.match(run, new RegExp(`COPY --from=\\S+ /build/${binary.replace(/[/.]/g, '\\$&')} `));
		const runPkgs = aptInstalls(run);
		for (const { lib, pkg } of linkedPackages(binary)) {
			assert.ok(runPkgs.includes(pkg), `${file} runtime stage installs ${pkg} (for ${lib})`);
		}
	});
}
