// Small image and file builders for the upload tests: real PNGs (zlib),
// headers that claim huge dimensions, and the like.
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

function crc32(buf) {
	let c = 0xffffffff;
	for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
	const len = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(td));
	return Buffer.concat([len, td, crc]);
}

const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width, height, bitDepth, colorType) {
	const d = Buffer.alloc(13);
	d.writeUInt32BE(width, 0);
	d.writeUInt32BE(height, 4);
	d[8] = bitDepth;
	d[9] = colorType;
	return chunk('IHDR', d);
}

// A real RGB PNG of width × height in one colour per row band.
export function png(width, height, [r, g, b] = [200, 40, 40]) {
	const row = Buffer.alloc(1 + width * 3);
	for (let x = 0; x < width; x++) row.set([r, g, b], 1 + x * 3);
	const raw = Buffer.concat(Array.from({ length: height }, () => row));
	return Buffer.concat([PNG_SIG, ihdr(width, height, 8, 2), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// The header of a PNG that claims width × height, with no pixels at all:
// an image bomb only a decoder that trusts the header would fall for.
export function pngHeaderOnly(width, height) {
	return Buffer.concat([PNG_SIG, ihdr(width, height, 8, 6), chunk('IDAT', zlib.deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

// A valid 1-bit greyscale PNG of side × side, all black: a few tens of KB
// that decode to side² pixels (a decompression bomb).
export function pngBomb(side) {
	const row = Buffer.alloc(1 + Math.ceil(side / 8));
	const z = zlib.createDeflate({ level: 9 });
	const parts = [];
	z.on('data', (d) => parts.push(d));
	for (let y = 0; y < side; y++) z.write(row);
	return new Promise((resolve) => {
		z.end(() => resolve(Buffer.concat([PNG_SIG, ihdr(side, side, 1, 0), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))])));
	});
}

// A GIF header (logical screen) of width × height and nothing else.
export function gifHeaderOnly(width, height) {
	const b = Buffer.alloc(13);
	b.write('GIF89a', 0, 'latin1');
	b.writeUInt16LE(width, 6);
	b.writeUInt16LE(height, 8);
	return Buffer.concat([b, Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b])]);
}

export const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');

// The dimensions in a WebP file's VP8/VP8L/VP8X header.
export function webpSize(buf) {
	if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WEBP') return null;
	const kind = buf.toString('latin1', 12, 16);
	if (kind === 'VP8 ') return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
	if (kind === 'VP8L') {
		const bits = buf.readUInt32LE(21);
		return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
	}
	if (kind === 'VP8X') return { width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1 };
	return null;
}
