// A tiny 5×7 bitmap font (upper-case letters, digits, a little punctuation) for writing labels into
// RgbImages: contact sheets and reports stay readable without any system font. Each glyph is seven
// rows of five bits, written as 14 hex digits (two per row, most significant bit = leftmost pixel).
import type { RgbImage } from './types.js';

const GLYPHS: Record<string, string> = {
  A: '0e11111f111111',
  B: '1e11111e11111e',
  C: '0e11101010110e',
  D: '1e11111111111e',
  E: '1f10101e10101f',
  F: '1f10101e101010',
  G: '0e11101711110f',
  H: '1111111f111111',
  I: '0e04040404040e',
  J: '0702020202120c',
  K: '11121418141211',
  L: '1010101010101f',
  M: '111b1515111111',
  N: '11191513111111',
  O: '0e11111111110e',
  P: '1e11111e101010',
  Q: '0e11111115120d',
  R: '1e11111e141211',
  S: '0f10100e01011e',
  T: '1f040404040404',
  U: '1111111111110e',
  V: '11111111110a04',
  W: '1111111515150a',
  X: '11110a040a1111',
  Y: '11110a04040404',
  Z: '1f01020408101f',
  0: '0e11131519110e',
  1: '040c040404040e',
  2: '0e11010204081f',
  3: '1e01010e01011e',
  4: '02060a121f0202',
  5: '1f101e0101110e',
  6: '0608101e11110e',
  7: '1f010204080808',
  8: '0e11110e11110e',
  9: '0e11110f01020c',
  '-': '0000001f000000',
  '.': '00000000000c0c',
  ':': '000c0c000c0c00',
  '/': '01010204081010',
  '=': '00001f001f0000',
  '(': '02040808080402',
  ')': '08040202020408',
  '%': '19190204081313',
  '+': '0004041f040400',
  '?': '0e110102040004',
  ',': '000000000c0408',
  '>': '08040201020408',
  '<': '02040810080402',
};

export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
/** Horizontal advance per character, in font pixels (glyph + one pixel of spacing). */
export const GLYPH_ADVANCE = 6;

/** Width in pixels of `text` drawn at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale;
}

/**
 * Draws `text` with its top-left corner at (x, y), clipped to the image. Lower-case letters are drawn
 * as upper-case; characters without a glyph are drawn as '?'.
 */
export function drawText(img: RgbImage, text: string, x: number, y: number, rgb: readonly [number, number, number], scale = 1): void {
  let cx = x;
  for (const raw of text.toUpperCase()) {
    if (raw !== ' ') {
      const hex = GLYPHS[raw] ?? GLYPHS['?']!;
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        const bits = parseInt(hex.slice(row * 2, row * 2 + 2), 16);
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (!(bits & (1 << (GLYPH_WIDTH - 1 - col)))) continue;
          fillRect(img, cx + col * scale, y + row * scale, scale, scale, rgb);
        }
      }
    }
    cx += GLYPH_ADVANCE * scale;
  }
}

/** Fills a rectangle, clipped to the image. */
export function fillRect(img: RgbImage, x: number, y: number, w: number, h: number, rgb: readonly [number, number, number]): void {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(img.width, Math.floor(x + w));
  const y1 = Math.min(img.height, Math.floor(y + h));
  for (let yy = y0; yy < y1; yy++) {
    for (let xx = x0; xx < x1; xx++) {
      const o = (yy * img.width + xx) * 3;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
    }
  }
}

/** Copies `src` into `dst` with its top-left corner at (x, y), clipped. */
export function blit(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  for (let sy = 0; sy < src.height; sy++) {
    const dy = y + sy;
    if (dy < 0 || dy >= dst.height) continue;
    for (let sx = 0; sx < src.width; sx++) {
      const dx = x + sx;
      if (dx < 0 || dx >= dst.width) continue;
      const s = (sy * src.width + sx) * 3;
      const d = (dy * dst.width + dx) * 3;
      dst.data[d] = src.data[s]!;
      dst.data[d + 1] = src.data[s + 1]!;
      dst.data[d + 2] = src.data[s + 2]!;
    }
  }
}
