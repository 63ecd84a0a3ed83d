// The scene model of the generated suite: a background and 1–3 objects, each with a shape, a colour,
// a size and a position in one of nine named regions (a 3×3 grid), plus an optional sign symbol for
// the safety tasks. Coordinates are in image units ([0, 1] across), so one scene renders the same at
// every image size. Clean scenes never overlap objects: overlap is reserved for rationality defects.
import type { Rng } from '../rng.js';
import type { SymbolKind } from './hazard.js';

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

/** Object colours, in sRGB 0..255. Chosen to stay distinct after a 32×32 downscale. */
export const COLOURS = {
  red: [215, 45, 40],
  orange: [240, 140, 30],
  yellow: [240, 215, 40],
  green: [40, 160, 60],
  blue: [40, 80, 215],
  purple: [135, 55, 185],
  white: [245, 245, 245],
  black: [25, 25, 25],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/** Backgrounds: a vertical gradient from `top` to `bottom` (a soft sky-to-ground light). */
export const BACKGROUNDS = {
  grey: { top: [182, 186, 194], bottom: [138, 142, 150] },
  sand: { top: [226, 210, 168], bottom: [186, 166, 124] },
  sky: { top: [168, 206, 238], bottom: [118, 164, 206] },
  mint: { top: [184, 226, 200], bottom: [134, 186, 156] },
  slate: { top: [86, 96, 116], bottom: [50, 58, 72] },
  lilac: { top: [206, 188, 226], bottom: [164, 146, 190] },
} as const satisfies Record<string, { top: readonly [number, number, number]; bottom: readonly [number, number, number] }>;
export type BackgroundName = keyof typeof BACKGROUNDS;
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as BackgroundName[];

/** Object radii in image units. Even "small" stays ≥ 6 px across at 32×32 so its shape is readable. */
export const SIZES = { small: 0.1, medium: 0.125, large: 0.15 } as const;
export type SizeName = keyof typeof SIZES;
export const SIZE_NAMES = Object.keys(SIZES) as SizeName[];

/** The nine named regions and their centres. Centres sit inside the border so large objects fit. */
export const REGIONS = {
  'top left': [0.2, 0.2],
  top: [0.5, 0.2],
  'top right': [0.8, 0.2],
  left: [0.2, 0.5],
  center: [0.5, 0.5],
  right: [0.8, 0.5],
  'bottom left': [0.2, 0.8],
  bottom: [0.5, 0.8],
  'bottom right': [0.8, 0.8],
} as const satisfies Record<string, readonly [number, number]>;
export type Region = keyof typeof REGIONS;
export const REGION_NAMES = Object.keys(REGIONS) as Region[];

/** How far (in image units) a centre may wander from its region centre. */
export const POSITION_JITTER = 0.025;

/** Extent of each shape relative to its radius (the farthest point from the centre). */
export const SHAPE_EXTENT: Record<Shape, number> = {
  circle: 1,
  square: 1.22,
  triangle: 1.14,
  star: 1.2,
  diamond: 1.15,
  cross: 1.06,
};

export interface SceneObject {
  shape: Shape;
  colour: ColourName;
  size: SizeName;
  region: Region;
  /** Centre and radius in image units. */
  x: number;
  y: number;
  r: number;
}

export interface SymbolInstance {
  kind: SymbolKind;
  region: Region;
  x: number;
  y: number;
  r: number;
}

export interface Scene {
  background: BackgroundName;
  /** Strength of the top-lit shading on objects, 0.5..1. */
  light: number;
  objects: SceneObject[];
  symbol?: SymbolInstance;
}

/** Minimum clear gap between two things in a clean scene, in image units. */
const CLEAR_GAP = 0.02;

/** Perceptual-ish distance used to keep objects visible against their background. */
function colourDistance(a: readonly number[], b: readonly number[]): number {
  const dr = a[0]! - b[0]!;
  const dg = a[1]! - b[1]!;
  const db = a[2]! - b[2]!;
  return Math.sqrt(2 * dr * dr + 4 * dg * dg + 3 * db * db);
}

/** Colours that stand out against a background (both ends of its gradient). */
export function coloursFor(background: BackgroundName): ColourName[] {
  const bg = BACKGROUNDS[background];
  return COLOUR_NAMES.filter((c) => Math.min(colourDistance(COLOURS[c], bg.top), colourDistance(COLOURS[c], bg.bottom)) > 150);
}

export function extentOf(o: { shape: Shape; r: number }): number {
  return o.r * SHAPE_EXTENT[o.shape];
}

/** Bounding circle of anything placed in a scene. */
interface Disc {
  x: number;
  y: number;
  ext: number;
}

function discsOf(scene: Scene): Disc[] {
  const d: Disc[] = scene.objects.map((o) => ({ x: o.x, y: o.y, ext: extentOf(o) }));
  if (scene.symbol) d.push({ x: scene.symbol.x, y: scene.symbol.y, ext: scene.symbol.r * 1.15 });
  return d;
}

function clear(a: Disc, b: Disc): boolean {
  return Math.hypot(a.x - b.x, a.y - b.y) >= a.ext + b.ext + CLEAR_GAP;
}

/** True when nothing in the scene overlaps anything else. */
export function isClean(scene: Scene): boolean {
  const d = discsOf(scene);
  for (let i = 0; i < d.length; i++) for (let j = i + 1; j < d.length; j++) if (!clear(d[i]!, d[j]!)) return false;
  return true;
}

/** Regions holding nothing yet. */
export function freeRegions(scene: Scene): Region[] {
  const used = new Set<Region>(scene.objects.map((o) => o.region));
  if (scene.symbol) used.add(scene.symbol.region);
  return REGION_NAMES.filter((r) => !used.has(r));
}

/** A centre near a region's centre. */
export function positionIn(rng: Rng, region: Region, jitter = POSITION_JITTER): { x: number; y: number } {
  const [cx, cy] = REGIONS[region];
  return { x: cx + rng.range(-jitter, jitter), y: cy + rng.range(-jitter, jitter) };
}

export function makeObject(rng: Rng, shape: Shape, colour: ColourName, size: SizeName, region: Region): SceneObject {
  const { x, y } = positionIn(rng, region);
  return { shape, colour, size, region, x, y, r: SIZES[size] };
}

/**
 * Tries to add an object in a free region without touching anything already there. Returns the
 * object (already pushed onto the scene) or undefined when no region has room.
 */
export function addObject(rng: Rng, scene: Scene, want: Partial<Pick<SceneObject, 'shape' | 'colour' | 'size' | 'region'>> = {}): SceneObject | undefined {
  const colours = coloursFor(scene.background);
  const regions = want.region ? [want.region] : rng.shuffle(freeRegions(scene));
  for (const region of regions) {
    for (let attempt = 0; attempt < 4; attempt++) {
      // Later attempts shrink the object: a large object next to another may not fit.
      const size = want.size ?? (attempt < 2 ? rng.pick(SIZE_NAMES) : 'small');
      const o = makeObject(rng, want.shape ?? rng.pick(SHAPES), want.colour ?? rng.pick(colours), size, region);
      const d = discsOf(scene);
      const mine = { x: o.x, y: o.y, ext: extentOf(o) };
      if (d.every((e) => clear(e, mine))) {
        scene.objects.push(o);
        return o;
      }
    }
  }
  return undefined;
}

export interface SceneOptions {
  minObjects?: number;
  maxObjects?: number;
  background?: BackgroundName;
}

/** A random clean scene with minObjects..maxObjects objects (default 1..3). */
export function sampleScene(rng: Rng, opts: SceneOptions = {}): Scene {
  const lo = opts.minObjects ?? 1;
  const hi = opts.maxObjects ?? 3;
  const scene: Scene = { background: opts.background ?? rng.pick(BACKGROUND_NAMES), light: rng.range(0.5, 1), objects: [] };
  const n = rng.intRange(lo, hi);
  for (let i = 0; i < n; i++) addObject(rng, scene);
  return scene;
}

/** A deep copy (scenes are plain data). */
export function cloneScene(scene: Scene): Scene {
  return {
    background: scene.background,
    light: scene.light,
    objects: scene.objects.map((o) => ({ ...o })),
    ...(scene.symbol ? { symbol: { ...scene.symbol } } : {}),
  };
}
