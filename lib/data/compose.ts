// Turns a scene and its defects into pixels: background gradient, objects (with structural defects
// applied to the draw list), the sign symbol, then pixel defects, then 8-bit quantisation. Kept apart
// from the rasteriser so the rasteriser knows nothing about scenes, signs or defects.
import { applyPixelDefects, applyStructural, type Defect } from './degrade.js';
import { symbolDrawItems } from './hazard.js';
import { drawItems, fillGradient, newFloatImage, toRgbImage, type DrawItem, type FloatImage } from './render.js';
import type { Rng } from '../rng.js';
import { BACKGROUNDS, COLOURS, type Scene } from './scene.js';
import type { RgbImage } from './types.js';

/** The draw items of a scene's objects, one per object, in scene order. */
export function objectDrawItems(scene: Scene): DrawItem[] {
  return scene.objects.map((o) => {
    const c = COLOURS[o.colour];
    return { shape: o.shape, x: o.x, y: o.y, r: o.r, rgb: [c[0] / 255, c[1] / 255, c[2] / 255] as const, shade: scene.light };
  });
}

/** Renders to a float image (before quantisation), e.g. for measuring what a defect changed. */
export function renderSceneFloat(scene: Scene, size: number, defects: readonly Defect[] = [], rng?: Rng): FloatImage {
  const img = newFloatImage(size, size);
  const bg = BACKGROUNDS[scene.background];
  fillGradient(img, bg.top, bg.bottom);
  drawItems(img, applyStructural(objectDrawItems(scene), defects));
  if (scene.symbol) drawItems(img, symbolDrawItems(scene.symbol.kind, scene.symbol.x, scene.symbol.y, scene.symbol.r));
  applyPixelDefects(img, defects, rng);
  return img;
}

/** Renders a scene with its defects to an 8-bit RGB image of size×size pixels. */
export function renderScene(scene: Scene, size: number, defects: readonly Defect[] = [], rng?: Rng): RgbImage {
  return toRgbImage(renderSceneFloat(scene, size, defects, rng));
}
