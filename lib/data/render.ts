// The rasteriser: draws shapes into a float RGB image with anti-aliasing (coverage from exact signed
// distances) and keeps an object-coverage mask for defects that only touch objects. Works in
// image units so a scene looks the same at 16×16 and at 128×128; quantises to 8-bit at the end.
import type { RgbImage } from './types.js';

/** A float RGB image (HWC, values nominally in [0, 1]) plus the coverage of drawn objects. */
export interface FloatImage {
  width: number;
  height: number;
  data: Float32Array;
  /** Per-pixel object coverage in [0, 1] (background = 0). */
  mask: Float32Array;
}

export const PRIMITIVES = ['circle', 'square', 'triangle', 'triangle-down', 'star', 'diamond', 'cross', 'rect', 'blade'] as const;
export type Primitive = (typeof PRIMITIVES)[number];

/** A half-plane in the item's local unit coordinates: keep points with u·nx + v·ny ≤ d. */
export interface Clip {
  nx: number;
  ny: number;
  d: number;
}

/** One thing to draw. Local coordinates: u to the right, v downwards, in units of r. */
export interface DrawItem {
  shape: Primitive;
  /** Centre in image units. */
  x: number;
  y: number;
  /** Radius in image units. */
  r: number;
  /** sRGB colour in [0, 1]. */
  rgb: readonly [number, number, number];
  /** Rotation in radians (clockwise on screen). */
  angle?: number;
  /** Half extents of a 'rect' along u and v, in units of r (other shapes ignore them). */
  sx?: number;
  sy?: number;
  /** Top-lit shading strength (0 = flat, as signs are). */
  shade?: number;
  clip?: Clip;
  /** 'over' paints on top; 'mix' paints half-transparent where an object is already drawn. */
  mode?: 'over' | 'mix';
  /** Whether the item counts as an object in the mask (true by default). */
  object?: boolean;
}

const STAR_OUTER = 1.2;
const STAR_INNER = 0.5;
const STAR_SECTOR = (2 * Math.PI) / 5;
const SQUARE_HALF = 0.86;
const CROSS_HALF = 0.34;
const BLADE_IN = 0.28;
const BLADE_OUT = 0.95;
const BLADE_HALF_ANGLE = Math.PI / 6;

/** Polygon outlines (local units, v down), for the polygon signed distance. */
function polygon(points: Array<[number, number]>): Float64Array {
  return Float64Array.from(points.flat());
}
const TRIANGLE = polygon([
  [0, -1.12],
  [0.98, 0.58],
  [-0.98, 0.58],
]);
const TRIANGLE_DOWN = polygon([
  [0, 1.12],
  [-0.98, -0.58],
  [0.98, -0.58],
]);
const DIAMOND = polygon([
  [0, -1.15],
  [1.15, 0],
  [0, 1.15],
  [-1.15, 0],
]);
const STAR = polygon(
  Array.from({ length: 10 }, (_, k): [number, number] => {
    const rho = k % 2 === 0 ? STAR_OUTER : STAR_INNER;
    const a = (k * STAR_SECTOR) / 2;
    return [rho * Math.sin(a), -rho * Math.cos(a)];
  }),
);
/** Exact signed distance to a closed polygon (negative inside), after Inigo Quilez's sdPolygon. */
function sdPolygon(poly: Float64Array, px: number, py: number): number {
  const n = poly.length / 2;
  let d = (px - poly[0]!) ** 2 + (py - poly[1]!) ** 2;
  let sign = 1;
  for (let i = 0, j = n - 1; i < n; j = i, i++) {
    const xi = poly[2 * i]!;
    const yi = poly[2 * i + 1]!;
    const ex = poly[2 * j]! - xi;
    const ey = poly[2 * j + 1]! - yi;
    const wx = px - xi;
    const wy = py - yi;
    let t = (wx * ex + wy * ey) / (ex * ex + ey * ey);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const bx = wx - ex * t;
    const by = wy - ey * t;
    const dd = bx * bx + by * by;
    if (dd < d) d = dd;
    // Crossing test for the sign (even-odd rule).
    const c1 = py >= yi;
    const c2 = py < poly[2 * j + 1]!;
    const c3 = ex * wy > ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) sign = -sign;
  }
  return sign * Math.sqrt(d);
}

/** Exact signed distance to an axis-aligned box of half extents (hx, hy). */
function sdBox(u: number, v: number, hx: number, hy: number): number {
  const qx = Math.abs(u) - hx;
  const qy = Math.abs(v) - hy;
  const ox = qx > 0 ? qx : 0;
  const oy = qy > 0 ? qy : 0;
  const inner = Math.max(qx, qy);
  return Math.sqrt(ox * ox + oy * oy) + (inner < 0 ? inner : 0);
}

/**
 * Signed distance (local units of r, negative inside) from (u, v) to a primitive. `sx`/`sy` are the
 * half extents of a 'rect' (other shapes ignore them). Exact for circle, boxes and polygons; for the
 * cross and the blade it is a bound that is exact near the edges, which is all anti-aliasing needs.
 */
export function signedDistance(shape: Primitive, u: number, v: number, sx = 1, sy = 1): number {
  switch (shape) {
    case 'circle':
      return Math.sqrt(u * u + v * v) - 1;
    case 'square':
      return sdBox(u, v, SQUARE_HALF, SQUARE_HALF);
    case 'rect':
      return sdBox(u, v, sx, sy);
    case 'diamond':
      return sdPolygon(DIAMOND, u, v);
    case 'triangle':
      return sdPolygon(TRIANGLE, u, v);
    case 'triangle-down':
      return sdPolygon(TRIANGLE_DOWN, u, v);
    case 'star':
      return sdPolygon(STAR, u, v);
    case 'cross':
      return Math.min(sdBox(u, v, CROSS_HALF, 1), sdBox(u, v, 1, CROSS_HALF));
    case 'blade': {
      // An annular sector pointing up: inside the ring and within ±30° of "up".
      const rho = Math.sqrt(u * u + v * v);
      const wedge = Math.abs(u) * Math.cos(BLADE_HALF_ANGLE) + v * Math.sin(BLADE_HALF_ANGLE);
      return Math.max(rho - BLADE_OUT, BLADE_IN - rho, wedge);
    }
  }
}

/**
 * Point-in-shape tests written directly from each shape's definition, independent of the distance
 * functions; the tests check signedDistance against them.
 */
export function insidePrimitive(shape: Primitive, u: number, v: number, sx = 1, sy = 1): boolean {
  switch (shape) {
    case 'circle':
      return u * u + v * v <= 1;
    case 'square':
      return Math.abs(u) <= SQUARE_HALF && Math.abs(v) <= SQUARE_HALF;
    case 'rect':
      return Math.abs(u) <= sx && Math.abs(v) <= sy;
    case 'diamond':
      return Math.abs(u) + Math.abs(v) <= 1.15;
    case 'triangle':
      return v <= 0.58 && v >= -1.12 && Math.abs(u) <= ((v + 1.12) * 0.98) / 1.7;
    case 'triangle-down':
      return -v <= 0.58 && -v >= -1.12 && Math.abs(u) <= ((-v + 1.12) * 0.98) / 1.7;
    case 'cross': {
      const au = Math.abs(u);
      const av = Math.abs(v);
      return (au <= CROSS_HALF && av <= 1) || (av <= CROSS_HALF && au <= 1);
    }
    case 'star': {
      const rho = Math.hypot(u, v);
      if (rho > STAR_OUTER) return false;
      // Fold the angle from "up" into the first half-sector, then test against the outer→inner edge.
      let ang = Math.atan2(u, -v) % STAR_SECTOR;
      if (ang < 0) ang += STAR_SECTOR;
      if (ang > STAR_SECTOR / 2) ang = STAR_SECTOR - ang;
      const px = rho * Math.sin(ang);
      const py = rho * Math.cos(ang);
      const ix = STAR_INNER * Math.sin(STAR_SECTOR / 2);
      const iy = STAR_INNER * Math.cos(STAR_SECTOR / 2);
      return ix * (py - STAR_OUTER) - (iy - STAR_OUTER) * px <= 0;
    }
    case 'blade': {
      const rho = Math.hypot(u, v);
      return rho >= BLADE_IN && rho <= BLADE_OUT && Math.abs(Math.atan2(u, -v)) <= BLADE_HALF_ANGLE;
    }
  }
}

/** How far a primitive reaches from its centre, in units of r ('rect' uses its half extents). */
export function primitiveExtent(shape: Primitive, sx = 1, sy = 1): number {
  switch (shape) {
    case 'circle':
      return 1;
    case 'square':
      return SQUARE_HALF * Math.SQRT2;
    case 'rect':
      return Math.hypot(sx, sy);
    case 'diamond':
      return 1.15;
    case 'triangle':
    case 'triangle-down':
      return 1.14;
    case 'cross':
      return Math.hypot(1, CROSS_HALF);
    case 'star':
      return STAR_OUTER;
    case 'blade':
      return BLADE_OUT;
  }
}

export function newFloatImage(width: number, height: number): FloatImage {
  return { width, height, data: new Float32Array(width * height * 3), mask: new Float32Array(width * height) };
}

/** Fills with a vertical gradient between two sRGB (0..255) colours. */
export function fillGradient(img: FloatImage, top: readonly number[], bottom: readonly number[]): void {
  const { width, height, data } = img;
  for (let y = 0; y < height; y++) {
    const t = height > 1 ? y / (height - 1) : 0;
    const r = (top[0]! + (bottom[0]! - top[0]!) * t) / 255;
    const g = (top[1]! + (bottom[1]! - top[1]!) * t) / 255;
    const b = (top[2]! + (bottom[2]! - top[2]!) * t) / 255;
    let o = y * width * 3;
    for (let x = 0; x < width; x++) {
      data[o++] = r;
      data[o++] = g;
      data[o++] = b;
    }
  }
}

/**
 * Draws one item. Coverage of a pixel comes from the signed distance at its centre
 * (cov = clamp(0.5 − distance in pixels)), the usual one-sample analytic anti-aliasing: as smooth
 * as 16× supersampling for shapes wider than a pixel, at a sixteenth of the cost.
 */
export function drawItem(img: FloatImage, item: DrawItem): void {
  const { width, height, data, mask } = img;
  // Pixels are measured in image units of the shorter side so circles stay round on any aspect.
  const unit = Math.min(width, height);
  const cx = item.x * unit;
  const cy = item.y * unit;
  const rpx = item.r * unit;
  if (!(rpx > 0)) return;
  const shape = item.shape;
  const sx = item.sx ?? 1;
  const sy = item.sy ?? 1;
  const reach = rpx * primitiveExtent(shape, sx, sy) + 1;
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(width - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(height - 1, Math.ceil(cy + reach));
  const cos = Math.cos(item.angle ?? 0);
  const sin = Math.sin(item.angle ?? 0);
  const shade = item.shade ?? 0;
  const clip = item.clip;
  const mix = item.mode === 'mix';
  const isObject = item.object ?? true;
  const [cr, cg, cb] = item.rgb;
  const inv = 1 / rpx;
  for (let py = y0; py <= y1; py++) {
    const dy = (py + 0.5 - cy) * inv;
    for (let px = x0; px <= x1; px++) {
      const dx = (px + 0.5 - cx) * inv;
      // Rotate into the shape's frame (inverse rotation).
      const u = cos * dx + sin * dy;
      const v = -sin * dx + cos * dy;
      let dist = signedDistance(shape, u, v, sx, sy);
      // A cut follows the object as drawn: the half-plane lives in the item's unrotated frame.
      if (clip) dist = Math.max(dist, dx * clip.nx + dy * clip.ny - clip.d);
      let cov = 0.5 - dist * rpx;
      if (cov <= 0) continue;
      if (cov > 1) cov = 1;
      // Lit from above: brighter towards the top of the object, darker towards the bottom.
      const light = 1 - shade * 0.16 * dy;
      const p = py * width + px;
      const alpha = mix && mask[p]! > 0.5 ? cov * 0.5 : cov;
      const o = p * 3;
      data[o] = data[o]! * (1 - alpha) + cr * light * alpha;
      data[o + 1] = data[o + 1]! * (1 - alpha) + cg * light * alpha;
      data[o + 2] = data[o + 2]! * (1 - alpha) + cb * light * alpha;
      if (isObject && cov > mask[p]!) mask[p] = cov;
    }
  }
}

export function drawItems(img: FloatImage, items: readonly DrawItem[]): void {
  for (const it of items) drawItem(img, it);
}

/** Rounds to 8-bit sRGB with clamping. */
export function toRgbImage(img: FloatImage): RgbImage {
  const n = img.data.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = img.data[i]! * 255 + 0.5;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
  return { width: img.width, height: img.height, data: out };
}

/** Nearest-neighbour upscale by an integer factor (for contact sheets: keeps pixels visible). */
export function upscaleNearest(img: RgbImage, factor: number): RgbImage {
  const w = img.width * factor;
  const h = img.height * factor;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w; x++) {
      const s = (sy * img.width + Math.floor(x / factor)) * 3;
      const o = (y * w + x) * 3;
      out[o] = img.data[s]!;
      out[o + 1] = img.data[s + 1]!;
      out[o + 2] = img.data[s + 2]!;
    }
  }
  return { width: w, height: h, data: out };
}
