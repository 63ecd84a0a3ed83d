// Defects and degradations, in three families that the judging tasks tell apart:
//  - technical (AGIN-Tech): noise, blur, blockiness — damage done by capture or compression;
//  - naturalness (AGIN-Nat): posterisation, banding, unnatural texture, colour cast — a rendering
//    that no camera would produce;
//  - rationality (AGIN-Rat): objects cut and shifted, duplicated, or fused into an impossible overlap.
// Each defect has a severity in [0, 1] that sets its strength; parameters are drawn once, when the
// defect is sampled, so a defect renders identically at every image size.
import type { Rng } from '../rng.js';
import type { DrawItem, FloatImage } from './render.js';
import type { Scene } from './scene.js';

export const DEFECT_FAMILIES = ['technical', 'naturalness', 'rationality'] as const;
export type DefectFamily = (typeof DEFECT_FAMILIES)[number];

export const DEFECT_KINDS = {
  technical: ['noise', 'blur', 'blockiness'],
  naturalness: ['posterise', 'banding', 'texture', 'colour-cast'],
  rationality: ['cut', 'duplicate', 'fused'],
} as const satisfies Record<DefectFamily, readonly string[]>;
export type DefectKind = (typeof DEFECT_KINDS)[DefectFamily][number];

export interface Defect {
  family: DefectFamily;
  kind: DefectKind;
  /** 0 = invisible, 1 = as strong as the suite makes it. */
  severity: number;
  /** For structural defects: the object it applies to (index into scene.objects). */
  target?: number;
  /** For 'fused': the object merged into the target. */
  other?: number;
  /** Kind-specific parameters drawn at sampling time (angles, offsets, tints, periods). */
  params: Record<string, number>;
}

/**
 * The severity at which a defect makes an image unacceptable for its family's task: the latent
 * quality 5 − 4·severity crosses the rating threshold 3.5 here.
 */
export const SEVERITY_THRESHOLD = 0.375;

/** Latent 1..5 quality implied by a family's worst defect severity. */
export function qualityFromSeverity(severity: number): number {
  return 5 - 4 * severity;
}

/** Defect kinds a scene supports (fused needs two objects; structural ones need at least one). */
export function kindsFor(family: DefectFamily, scene: Scene): DefectKind[] {
  const kinds = [...DEFECT_KINDS[family]] as DefectKind[];
  if (family !== 'rationality') return kinds;
  const n = scene.objects.length;
  if (n === 0) return [];
  return n >= 2 ? kinds : kinds.filter((k) => k !== 'fused');
}

/** Draws a defect of a family at a given severity; undefined when the scene cannot carry one. */
export function sampleDefect(rng: Rng, family: DefectFamily, severity: number, scene: Scene, kind?: DefectKind): Defect | undefined {
  const kinds = kindsFor(family, scene);
  if (kinds.length === 0) return undefined;
  const k = kind && kinds.includes(kind) ? kind : rng.pick(kinds);
  const d: Defect = { family, kind: k, severity, params: {} };
  switch (k) {
    case 'noise':
    case 'blur':
    case 'blockiness':
      break;
    case 'posterise':
      break;
    case 'banding':
      // Period in image units (≈ 3–6 px at 32×32) and stripe direction (0 horizontal, 1 vertical, 2 diagonal).
      d.params = { period: rng.range(0.1, 0.19), direction: rng.int(3), phase: rng.float() };
      break;
    case 'texture':
      d.params = { period: rng.range(0.06, 0.1), pattern: rng.int(2) };
      break;
    case 'colour-cast': {
      // A strong tint no light source would give: magenta, green, cyan or orange.
      const tints = [
        [1, 0.25, 1],
        [0.3, 1, 0.2],
        [0.2, 1, 1],
        [1, 0.55, 0.1],
      ];
      const t = tints[rng.int(tints.length)]!;
      d.params = { tr: t[0]!, tg: t[1]!, tb: t[2]! };
      break;
    }
    case 'cut':
      d.target = rng.int(scene.objects.length);
      d.params = { angle: rng.range(0, Math.PI), sign: rng.bool() ? 1 : -1 };
      break;
    case 'duplicate':
      d.target = rng.int(scene.objects.length);
      d.params = { direction: rng.range(0, 2 * Math.PI) };
      break;
    case 'fused': {
      const [a, b] = rng.sample(
        scene.objects.map((_, i) => i),
        2,
      );
      d.target = a!;
      d.other = b!;
      d.params = { direction: rng.range(0, 2 * Math.PI) };
      break;
    }
  }
  return d;
}

/**
 * Applies structural (rationality) defects to an object draw list. `items[i]` must be the item of
 * scene.objects[i]; extra items (duplicates, the second half of a cut) are appended after it.
 */
export function applyStructural(items: DrawItem[], defects: readonly Defect[]): DrawItem[] {
  const out = items.map((it) => [it]);
  for (const d of defects) {
    if (d.family !== 'rationality' || d.target === undefined) continue;
    const group = out[d.target];
    const base = items[d.target];
    if (!group || !base) continue;
    const s = d.severity;
    switch (d.kind) {
      case 'cut': {
        // Slice the object along a line through its centre and slide one half along the cut.
        const a = d.params.angle!;
        const nx = Math.cos(a);
        const ny = Math.sin(a);
        const shift = 0.75 * s * base.r * d.params.sign!;
        group.length = 0;
        group.push({ ...base, clip: { nx, ny, d: 0 } });
        group.push({ ...base, x: base.x - ny * shift, y: base.y + nx * shift, clip: { nx: -nx, ny: -ny, d: 0 } });
        break;
      }
      case 'duplicate': {
        // A second copy of the same object, partly overlapping it: a "doubled" generation.
        const dist = (0.2 + 0.9 * s) * base.r;
        const dir = d.params.direction!;
        group.unshift({ ...base, x: base.x + Math.cos(dir) * dist, y: base.y + Math.sin(dir) * dist });
        break;
      }
      case 'fused': {
        // Move the other object into the target so the two interpenetrate and show through each other.
        const other = d.other !== undefined ? out[d.other] : undefined;
        const ob = d.other !== undefined ? items[d.other] : undefined;
        if (!other || !ob) break;
        const reach = (base.r + ob.r) * 1.05;
        const dist = reach * (1 - 0.65 * s);
        const dir = d.params.direction!;
        const moved = { ...ob, x: base.x + Math.cos(dir) * dist, y: base.y + Math.sin(dir) * dist, mode: 'mix' as const };
        other.length = 0;
        other.push(moved);
        break;
      }
      default:
        break;
    }
  }
  // Fused objects must be drawn after their partner so the mix shows both: draw 'mix' items last.
  const flat = out.flat();
  return [...flat.filter((it) => it.mode !== 'mix'), ...flat.filter((it) => it.mode === 'mix')];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Separable Gaussian blur with a given sigma in pixels (edge pixels clamp). */
export function gaussianBlur(img: FloatImage, sigmaPx: number): void {
  if (!(sigmaPx > 0.05)) return;
  const radius = Math.max(1, Math.ceil(sigmaPx * 3));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp((-i * i) / (2 * sigmaPx * sigmaPx));
    kernel[i + radius] = w;
    sum += w;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const { width: w, height: h, data } = img;
  const tmp = new Float32Array(data.length);
  blurPass(data, tmp, w, h, kernel, radius, true);
  blurPass(tmp, data, w, h, kernel, radius, false);
}

/** One direction of the separable blur: dst = src convolved along x (`horizontal`) or y, edges clamped. */
function blurPass(src: ArrayLike<number>, dst: { [i: number]: number }, w: number, h: number, kernel: ArrayLike<number>, radius: number, horizontal: boolean): void {
  const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = -radius; k <= radius; k++) {
        const o = horizontal ? (y * w + clamp(x + k, w)) * 3 : (clamp(y + k, h) * w + x) * 3;
        const kw = kernel[k + radius]!;
        r += src[o]! * kw;
        g += src[o + 1]! * kw;
        b += src[o + 2]! * kw;
      }
      const o = (y * w + x) * 3;
      dst[o] = r;
      dst[o + 1] = g;
      dst[o + 2] = b;
    }
  }
}

/** Replaces each block by a blend towards its mean colour, then coarsely quantises the block means. */
function blockiness(img: FloatImage, s: number): void {
  const { width: w, height: h, data } = img;
  const block = Math.max(2, Math.round(Math.min(w, h) / 8));
  // Capped below 1 so the content stays recognisable under the blocks, as in real compression.
  const strength = clamp01(0.15 + 0.7 * s);
  const step = 0.02 + 0.1 * s;
  for (let by = 0; by < h; by += block) {
    for (let bx = 0; bx < w; bx += block) {
      const ye = Math.min(h, by + block);
      const xe = Math.min(w, bx + block);
      let r = 0;
      let g = 0;
      let b = 0;
      const n = (ye - by) * (xe - bx);
      for (let y = by; y < ye; y++)
        for (let x = bx; x < xe; x++) {
          const o = (y * w + x) * 3;
          r += data[o]!;
          g += data[o + 1]!;
          b += data[o + 2]!;
        }
      r = Math.round(r / n / step) * step;
      g = Math.round(g / n / step) * step;
      b = Math.round(b / n / step) * step;
      for (let y = by; y < ye; y++)
        for (let x = bx; x < xe; x++) {
          const o = (y * w + x) * 3;
          data[o] = data[o]! * (1 - strength) + r * strength;
          data[o + 1] = data[o + 1]! * (1 - strength) + g * strength;
          data[o + 2] = data[o + 2]! * (1 - strength) + b * strength;
        }
    }
  }
}

/**
 * Applies the pixel-level defects (everything except rationality) in a fixed order: naturalness
 * first (they change the rendering), then technical (they damage the finished picture), so a noisy
 * posterised image looks like a posterised picture that was then photographed badly.
 */
export function applyPixelDefects(img: FloatImage, defects: readonly Defect[], rng?: Rng): void {
  const order: DefectKind[] = ['colour-cast', 'texture', 'banding', 'posterise', 'blur', 'blockiness', 'noise'];
  const sorted = defects.filter((d) => d.family !== 'rationality').sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const { width: w, height: h, data, mask } = img;
  const unit = Math.min(w, h);
  for (const d of sorted) {
    const s = clamp01(d.severity);
    if (s <= 0) continue;
    switch (d.kind) {
      case 'noise': {
        if (!rng) throw new TypeError('applyPixelDefects: a noise defect needs rng (the noise is drawn from it)');
        const sigma = 0.015 + 0.13 * s;
        const nrng = rng.fork('noise');
        for (let i = 0; i < data.length; i++) data[i] = data[i]! + sigma * nrng.normal();
        break;
      }
      case 'blur':
        // Sigma grows with the image so the blur looks the same at every resolution.
        gaussianBlur(img, (0.35 + 1.5 * s) * (unit / 32));
        break;
      case 'blockiness':
        blockiness(img, s);
        break;
      case 'posterise': {
        const levels = Math.max(2, Math.round(9 - 7 * s));
        for (let i = 0; i < data.length; i++) data[i] = Math.round(clamp01(data[i]!) * (levels - 1)) / (levels - 1);
        break;
      }
      case 'banding': {
        const period = d.params.period! * unit;
        const amp = 0.02 + 0.18 * s;
        const dir = d.params.direction!;
        const phase = d.params.phase! * period;
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const t = dir === 0 ? y : dir === 1 ? x : (x + y) * Math.SQRT1_2;
            const band = Math.floor((t + phase) / period) % 2 === 0 ? amp : -amp;
            const o = (y * w + x) * 3;
            data[o] = data[o]! + band;
            data[o + 1] = data[o + 1]! + band;
            data[o + 2] = data[o + 2]! + band;
          }
        break;
      }
      case 'texture': {
        // A hard-edged checker or zebra pattern inside objects only: surfaces no real object has.
        const period = Math.max(2, d.params.period! * unit);
        const amp = 0.06 + 0.4 * s;
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const m = mask[y * w + x]!;
            if (m <= 0) continue;
            const cell = d.params.pattern === 0 ? Math.floor(x / period) + Math.floor(y / period) : Math.floor((x + y) / period);
            const sign = cell % 2 === 0 ? 1 : -1;
            const o = (y * w + x) * 3;
            for (let c = 0; c < 3; c++) data[o + c] = data[o + c]! + sign * amp * m;
          }
        break;
      }
      case 'colour-cast': {
        const k = 0.1 + 0.65 * s;
        const t = [d.params.tr!, d.params.tg!, d.params.tb!];
        for (let i = 0; i < data.length; i += 3)
          for (let c = 0; c < 3; c++) data[i + c] = data[i + c]! * (1 - k) + data[i + c]! * t[c]! * k + 0.12 * k * t[c]!;
        break;
      }
      default:
        break;
    }
  }
}

/** Short human words for a defect kind (captions, contact sheets). */
export const DEFECT_WORDS: Record<DefectKind, string> = {
  noise: 'noisy',
  blur: 'blurry',
  blockiness: 'blocky',
  posterise: 'posterized',
  banding: 'striped',
  texture: 'oddly textured',
  'colour-cast': 'tinted',
  cut: 'sliced',
  duplicate: 'doubled',
  fused: 'merged',
};
