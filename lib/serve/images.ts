// Images in serving requests: data URLs (`data:image/png;base64,...`) or bare base64 strings, decoded
// from memory only. Nothing a client sends is ever used as a path on the server's disk or fetched
// from the network.
import sharp from 'sharp';
import { decodeImage } from '../data/images.js';
import type { RgbImage } from '../data/types.js';
import { HttpError } from './http-error.js';

/** Largest decoded image accepted (pixels), checked from the header before decoding. */
export const MAX_IMAGE_PIXELS = 4096 * 4096;

const DATA_URL = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)?((?:;[a-z0-9-]+=[^;,]*)*)(;base64)?,/i;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The bytes of an image sent as a data URL or base64. @throws HttpError 400 otherwise. */
export function imageBytes(v: unknown, where: string): Buffer {
  if (typeof v !== 'string' || v.length === 0) throw new HttpError(400, `${where}: expected a data URL (data:image/png;base64,...) or a base64 string, got ${v === null ? 'null' : typeof v}`);
  let payload = v;
  const m = DATA_URL.exec(v);
  if (m) {
    if (!m[3]) throw new HttpError(400, `${where}: data URLs must be base64-encoded (data:image/png;base64,...)`);
    payload = v.slice(m[0].length);
  } else if (/^(https?|file|ftp):/i.test(v)) {
    throw new HttpError(400, `${where}: URLs are refused; send the image bytes as a data URL or base64`);
  }
  const compact = payload.replace(/\s+/g, '');
  if (!BASE64.test(compact)) {
    throw new HttpError(400, `${where}: not a data URL or base64 image (paths on the server's disk and URLs are refused; send the image bytes)`);
  }
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/** Decodes request image bytes to the model's size. @throws HttpError 400 when they are not an image. */
export async function decodeRequestImage(v: unknown, size: number, where: string): Promise<RgbImage> {
  const bytes = imageBytes(v, where);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'error' }).metadata();
  } catch (e) {
    throw new HttpError(400, `${where}: could not be decoded as a PNG, JPEG or WebP image (${(e as Error).message})`);
  }
  const px = (meta.width ?? 0) * (meta.height ?? 0);
  if (!(px > 0)) throw new HttpError(400, `${where}: could not be decoded (no image size in its header)`);
  if (px > MAX_IMAGE_PIXELS) throw new HttpError(400, `${where}: ${meta.width}×${meta.height} is larger than the ${MAX_IMAGE_PIXELS.toLocaleString('en')}-pixel limit`);
  try {
    // A Buffer, never a string: decodeImage would read a string as a file path.
    return await decodeImage(bytes, { width: size, height: size });
  } catch (e) {
    throw new HttpError(400, `${where}: could not be decoded as a PNG, JPEG or WebP image (${(e as Error).message})`);
  }
}
