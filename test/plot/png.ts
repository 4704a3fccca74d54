// A minimal PNG reader for tests: 8-bit RGB or RGBA, not interlaced (what resvg writes).
// It checks the signature and every chunk's CRC, inflates the IDAT stream and undoes the
// five row filters, so a test can look at the pixels it asked for.
import * as zlib from 'node:zlib';

export interface Png {
  readonly width: number;
  readonly height: number;
  /** RGBA, 4 bytes per pixel, rows top to bottom. */
  readonly pixels: Uint8Array;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The width and height in the IHDR chunk, without decoding anything else. */
export function pngSize(file: Buffer): { width: number; height: number } {
  if (!file.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG: bad signature');
  if (file.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG: IHDR is not the first chunk');
  return { width: file.readUInt32BE(16), height: file.readUInt32BE(20) };
}

export function decodePng(file: Buffer): Png {
  const { width, height } = pngSize(file);
  const idat: Buffer[] = [];
  let colorType = -1;
  let ended = false;
  for (let at = 8; at < file.length && !ended; ) {
    const length = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    const data = file.subarray(at + 8, at + 8 + length);
    const crc = file.readUInt32BE(at + 8 + length);
    if (zlib.crc32(file.subarray(at + 4, at + 8 + length)) !== crc) throw new Error(`PNG chunk ${type}: bad CRC`);
    if (type === 'IHDR') {
      const [depth, color, , , interlace] = data.subarray(8);
      if (depth !== 8 || (color !== 2 && color !== 6) || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, color type ${color}, interlace ${interlace}`);
      }
      colorType = color;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
    }
    at += 12 + length;
  }
  if (!ended) throw new Error('PNG has no IEND chunk: truncated');
  const channels = colorType === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  if (raw.length !== height * (stride + 1))
    throw new Error(`PNG data is ${raw.length} bytes, not ${height * (stride + 1)}`);
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? rows[out + i - channels]! : 0;
      const b = y > 0 ? rows[out - stride + i]! : 0;
      const c = y > 0 && i >= channels ? rows[out - stride + i - channels]! : 0;
      let predictor: number;
      if (filter === 0) predictor = 0;
      else if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) predictor = paeth(a, b, c);
      else throw new Error(`PNG row ${y}: unknown filter ${filter}`);
      rows[out + i] = (line[i]! + predictor) & 0xff;
    }
  }
  if (channels === 4) return { width, height, pixels: rows };
  const pixels = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    pixels.set(rows.subarray(p * 3, p * 3 + 3), p * 4);
    pixels[p * 4 + 3] = 255;
  }
  return { width, height, pixels };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Counts of pixels that are not white, that are dark (text, frame), and that are blue-ish (data). */
export function inkCounts(png: Png): { total: number; ink: number; dark: number; blue: number } {
  let ink = 0;
  let dark = 0;
  let blue = 0;
  const { pixels } = png;
  for (let p = 0; p < pixels.length; p += 4) {
    const [r, g, b] = [pixels[p]!, pixels[p + 1]!, pixels[p + 2]!];
    if (r < 245 || g < 245 || b < 245) ink++;
    if (r + g + b < 3 * 90) dark++;
    if (b > r + 60 && b > 120) blue++;
  }
  return { total: png.width * png.height, ink, dark, blue };
}
