// Image file I/O with sharp: decode PNG/JPEG/WebP (any sharp input) to 8-bit RGB, resize to the
// model's image size, encode PNG, and an LRU cache of decoded images so epochs over a folder decode
// each file once.
import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import type { RgbImage } from './types.js';

export type ResizeFit = 'fill' | 'cover' | 'contain';

export interface ImageSize {
  width: number;
  height: number;
}

/** Checks a user image size: a side length (square) or { width, height }, 1..4096 each. */
export function checkImageSize(v: unknown, fn: string): ImageSize | undefined {
  if (v === undefined) return undefined;
  const one = (n: unknown, name: string): number => {
    if (typeof n !== 'number') throw new TypeError(`${fn}: ${name} must be an integer in [1, 4096], got ${typeof n}`);
    if (!Number.isInteger(n) || n < 1 || n > 4096) throw new RangeError(`${fn}: ${name} must be an integer in [1, 4096], got ${n}`);
    return n;
  };
  if (typeof v === 'number') {
    const s = one(v, 'imageSize');
    return { width: s, height: s };
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return { width: one(o.width, 'imageSize.width'), height: one(o.height, 'imageSize.height') };
  }
  throw new TypeError(`${fn}: imageSize must be a number or { width, height }, got ${v === null ? 'null' : typeof v}`);
}

/** Decodes raw RGB from a sharp pipeline's output, checking it really is 3-channel 8-bit. */
async function toRgb(pipeline: sharp.Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/**
 * Default bound on an input image's pixel count (width × height, read from the file header before
 * any pixel is decoded): 8192 × 8192. Judging and training resize to at most 4096 × 4096, so larger
 * inputs are either mistakes or decompression bombs (a 1 MB PNG can declare 16000 × 16000 pixels).
 */
export const DEFAULT_MAX_INPUT_PIXELS = 8192 * 8192;

export interface DecodeOptions {
  /**
   * Refuse images with more pixels than this (sharp's `limitInputPixels`), checked from the header
   * before decoding. Default DEFAULT_MAX_INPUT_PIXELS; must be a positive integer.
   */
  maxInputPixels?: number;
}

/** Checks a maxInputPixels option. */
export function checkMaxInputPixels(v: unknown, fn: string): number {
  if (v === undefined) return DEFAULT_MAX_INPUT_PIXELS;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`${fn}: maxInputPixels must be a positive integer (pixels = width × height), got ${String(v)}`);
  return v;
}

/**
 * Decodes an image file (or bytes) to 8-bit sRGB. Orientation from EXIF is applied, transparency is
 * flattened onto white, greyscale becomes RGB. With `size`, the image is resized (Lanczos) unless
 * it already has that size, so PNGs of the right size come back bit-exact; a larger image is
 * resized inside the decoding pipeline (JPEG and WebP shrink on load), so the full-size pixels of a
 * big image are never held at once. Images over `opts.maxInputPixels` are refused before decoding.
 */
export async function decodeImage(input: string | Uint8Array, size?: ImageSize, fit: ResizeFit = 'fill', opts: DecodeOptions = {}): Promise<RgbImage> {
  const limitInputPixels = checkMaxInputPixels(opts.maxInputPixels, 'decodeImage');
  const open = () => sharp(input, { failOn: 'error', limitInputPixels }).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha();
  if (size) {
    const meta = await sharp(input, { failOn: 'error', limitInputPixels }).metadata();
    const swapped = (meta.orientation ?? 1) >= 5; // EXIF orientations 5..8 swap width and height
    const w = swapped ? meta.height : meta.width;
    const h = swapped ? meta.width : meta.height;
    if (w !== undefined && h !== undefined && w * h > size.width * size.height)
      return toRgb(open().resize(size.width, size.height, { fit, kernel: 'lanczos3', background: '#ffffff' }));
  }
  const full = await toRgb(open());
  if (!size || (full.width === size.width && full.height === size.height)) return full;
  return resizeImage(full, size, fit);
}

/** Resizes an RGB image (Lanczos 3; 'contain' pads with white). */
export async function resizeImage(img: RgbImage, size: ImageSize, fit: ResizeFit = 'fill'): Promise<RgbImage> {
  return toRgb(
    sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(size.width, size.height, {
      fit,
      kernel: 'lanczos3',
      background: '#ffffff',
    }),
  );
}

/** Encodes an RGB image as PNG (lossless: decoding gives back the same bytes). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  checkRgbImage(img, 'encodePng');
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

/** Throws unless `img` is a well-formed RgbImage. */
export function checkRgbImage(img: unknown, fn: string): asserts img is RgbImage {
  const o = img as RgbImage | null;
  if (!o || typeof o !== 'object' || !(o.data instanceof Uint8Array)) throw new TypeError(`${fn}: image must be { width, height, data: Uint8Array }`);
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1)
    throw new RangeError(`${fn}: image width and height must be positive integers, got ${o.width}×${o.height}`);
  if (o.data.length !== o.width * o.height * 3)
    throw new RangeError(`${fn}: image data must hold width*height*3 = ${o.width * o.height * 3} bytes (RGB), got ${o.data.length}`);
}

export interface ImageCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

/**
 * LRU cache of decoded images keyed by real path, file size, modification time, target size and
 * fit, bounded in bytes. Returns copies, so callers may modify what they get.
 */
export class ImageCache {
  readonly maxBytes: number;
  private readonly map = new Map<string, RgbImage>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(maxBytes = 256 * 2 ** 20) {
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) throw new RangeError(`ImageCache: maxBytes must be a non-negative number, got ${String(maxBytes)}`);
    this.maxBytes = maxBytes;
  }

  /** Decodes through the cache. `realPath` must already be checked (see safe-path.ts). */
  async load(realPath: string, size: ImageSize | undefined, fit: ResizeFit): Promise<RgbImage> {
    const st = await fs.stat(realPath);
    const key = `${realPath}\0${st.size}\0${st.mtimeMs}\0${size ? `${size.width}x${size.height}` : 'native'}\0${fit}`;
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      // Re-insert to mark as most recently used.
      this.map.delete(key);
      this.map.set(key, hit);
      return { width: hit.width, height: hit.height, data: hit.data.slice() };
    }
    this.misses++;
    const img = await decodeImage(realPath, size, fit);
    const n = img.data.byteLength;
    if (n <= this.maxBytes) {
      this.map.set(key, { width: img.width, height: img.height, data: img.data.slice() });
      this.bytes += n;
      for (const [k, v] of this.map) {
        if (this.bytes <= this.maxBytes) break;
        this.map.delete(k);
        this.bytes -= v.data.byteLength;
      }
    }
    return img;
  }

  stats(): ImageCacheStats {
    return { entries: this.map.size, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/** The cache loaders share unless told otherwise. */
export const defaultImageCache = new ImageCache();
