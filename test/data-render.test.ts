// The rasteriser and the defects: signed distances agree with the shapes' definitions, coverage
// integrates to the right area, and every defect family is really in the pixels (images differ from
// a clean re-render of their hidden scene in proportion to the defect's severity).
import { describe, expect, it } from 'vitest';
import { renderSceneFloat } from '../lib/data/compose.js';
import { DEFECT_KINDS, applyPixelDefects, sampleDefect, type DefectFamily } from '../lib/data/degrade.js';
import { drawItem, insidePrimitive, newFloatImage, PRIMITIVES, signedDistance, toRgbImage } from '../lib/data/render.js';
import { Rng } from '../lib/rng.js';
import { sampleScene } from '../lib/data/scene.js';
import { generateExamples, type ExampleMeta } from '../lib/data/suite.js';
import { drawText, textWidth } from '../lib/data/font.js';

describe('shapes', () => {
  it('signed distance has the sign of the point-in-shape definition, away from the edges', () => {
    const rng = Rng.from('sdf');
    for (const shape of PRIMITIVES) {
      let disagree = 0;
      let tested = 0;
      const sx = shape === 'rect' ? 0.3 : 1;
      const sy = shape === 'rect' ? 0.8 : 1;
      for (let i = 0; i < 20000; i++) {
        const u = rng.range(-1.5, 1.5);
        const v = rng.range(-1.5, 1.5);
        const d = signedDistance(shape, u, v, sx, sy);
        if (Math.abs(d) < 1e-3) continue;
        tested++;
        if (d < 0 !== insidePrimitive(shape, u, v, sx, sy)) disagree++;
      }
      expect(disagree, `${shape}: ${disagree} of ${tested} points disagree`).toBe(0);
    }
  });

  it('signed distance is a true distance for the circle, box and polygons (|∇d| = 1 off the medial axis)', () => {
    const rng = Rng.from('grad');
    for (const shape of ['circle', 'square', 'triangle', 'diamond', 'star'] as const) {
      let worst = 0;
      for (let i = 0; i < 2000; i++) {
        const u = rng.range(-1.6, 1.6);
        const v = rng.range(-1.6, 1.6);
        const h = 1e-5;
        const gx = (signedDistance(shape, u + h, v) - signedDistance(shape, u - h, v)) / (2 * h);
        const gy = (signedDistance(shape, u, v + h) - signedDistance(shape, u, v - h)) / (2 * h);
        const g = Math.hypot(gx, gy);
        // The medial axis (inside, where two edges are equally near) has kinks: skip points near it.
        if (signedDistance(shape, u, v) < 0 && Math.abs(g - 1) > 0.05) continue;
        worst = Math.max(worst, Math.abs(g - 1));
      }
      expect(worst, `${shape}: max | |grad d| - 1 | = ${worst.toExponential(2)}`).toBeLessThan(1e-3);
    }
  });

  it('anti-aliased coverage integrates to the exact area (circle π r², square (1.72 r)²)', () => {
    for (const [shape, area] of [
      ['circle', Math.PI],
      ['square', 1.72 * 1.72],
    ] as const) {
      for (const size of [32, 97]) {
        const img = newFloatImage(size, size);
        const r = 0.23;
        drawItem(img, { shape, x: 0.5 + 0.37 / size, y: 0.5 - 0.21 / size, r, rgb: [1, 1, 1] });
        const covered = img.mask.reduce((a, b) => a + b, 0);
        const want = area * (r * size) ** 2;
        const rel = Math.abs(covered - want) / want;
        expect(rel, `${shape} at ${size}px: covered ${covered.toFixed(2)} px² vs ${want.toFixed(2)} (rel err ${rel.toExponential(2)})`).toBeLessThan(
          size === 32 ? 0.02 : 0.005,
        );
      }
    }
  });

  it('quantises with rounding and clamping', () => {
    const img = newFloatImage(2, 1);
    img.data.set([-0.2, 0.5, 1.3, 0.0019, 0.002, 254.6 / 255]);
    expect(Array.from(toRgbImage(img).data)).toEqual([0, 128, 255, 0, 1, 255]);
  });
});

describe('defects', () => {
  function meanAbsDiff(a: Float32Array, b: Float32Array): number {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
    return s / a.length;
  }

  it('every defect kind changes the image, more at higher severity', () => {
    const families: DefectFamily[] = ['technical', 'naturalness', 'rationality'];
    for (const family of families) {
      for (const kind of DEFECT_KINDS[family]) {
        let mild = 0;
        let strong = 0;
        for (let i = 0; i < 12; i++) {
          const rng = Rng.from('defect', kind, i);
          const scene = sampleScene(rng, { minObjects: 2 });
          const params = rng.fork('params');
          // Baseline: the same defect at severity 0 (a clean image, except that 'fused' has already
          // moved the two objects until they touch).
          const d0 = sampleDefect(params.fork('a'), family, 0, scene, kind)!;
          const clean = renderSceneFloat(scene, 32, [d0], rng.fork('r'));
          const dm = sampleDefect(params.fork('a'), family, 0.15, scene, kind)!;
          const ds = sampleDefect(params.fork('a'), family, 0.9, scene, kind)!;
          expect(dm.kind).toBe(kind);
          mild += meanAbsDiff(renderSceneFloat(scene, 32, [dm], rng.fork('r')).data, clean.data);
          strong += meanAbsDiff(renderSceneFloat(scene, 32, [ds], rng.fork('r')).data, clean.data);
        }
        expect(strong, `${kind}: mean |diff| mild ${(mild / 12).toFixed(4)} vs strong ${(strong / 12).toFixed(4)}`).toBeGreaterThan(mild * 1.5);
        expect(mild, `${kind}: a mild defect must still change something`).toBeGreaterThan(0);
      }
    }
  });

  it('quality-task negatives differ from a defect-free render of their hidden scene far more than positives', () => {
    for (const task of ['technical', 'naturalness', 'rationality'] as const) {
      const pos: number[] = [];
      const neg: number[] = [];
      for (const e of generateExamples(task, 'train', { seed: 3, distractorRate: 0 }, 80)) {
        const m = e.meta as unknown as ExampleMeta;
        // The hidden scene with every defect at severity 0 (see above), rendered without noise.
        const zero = m.images[0]!.defects.map((d) => ({ ...d, severity: 0 }));
        const clean = toRgbImage(renderSceneFloat(m.images[0]!.scene, 32, zero)).data;
        const img = e.images[0]!.data;
        let s = 0;
        for (let i = 0; i < img.length; i++) s += Math.abs(img[i]! - clean[i]!);
        (m.truth === 1 ? pos : neg).push(s / img.length);
      }
      const mp = pos.reduce((a, b) => a + b, 0) / pos.length;
      const mn = neg.reduce((a, b) => a + b, 0) / neg.length;
      expect(mn, `${task}: mean |diff| positives ${mp.toFixed(2)}, negatives ${mn.toFixed(2)} (8-bit levels)`).toBeGreaterThan(3 * mp);
    }
  });

  it('noise needs an rng and is reproducible from it', () => {
    const scene = sampleScene(Rng.from('n'));
    const d = sampleDefect(Rng.from('n', 1), 'technical', 0.8, scene, 'noise')!;
    const img = newFloatImage(16, 16);
    expect(() => applyPixelDefects(img, [d])).toThrow(/needs rng/);
    const a = renderSceneFloat(scene, 16, [d], Rng.from('x'));
    const b = renderSceneFloat(scene, 16, [d], Rng.from('x'));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });
});

describe('bitmap font', () => {
  it('draws known glyph pixels and clips at the border', () => {
    const img = { width: 20, height: 9, data: new Uint8Array(20 * 9 * 3) };
    drawText(img, 'T1', 1, 1, [255, 0, 0]);
    // 'T' top row is five pixels wide; its stem is the middle column.
    for (let x = 1; x <= 5; x++) expect(img.data[(1 * 20 + x) * 3]).toBe(255);
    expect(img.data[(4 * 20 + 3) * 3]).toBe(255);
    expect(img.data[(4 * 20 + 1) * 3]).toBe(0);
    expect(textWidth('T1')).toBe(11);
    expect(() => drawText(img, 'overflow off the edge ~', 15, 5, [1, 2, 3], 2)).not.toThrow();
  });
});
