// `mtrl-judge data export`: the generated suite as PNG images + JSONL.
export async function exportCommand(o: { out: string; preset: 'small' | 'paper'; seed: number; imageSize: number }): Promise<void> {
  const { exportSuite } = await import('../data/export.js');
  const r = await exportSuite(o.out, { seed: o.seed, sizes: o.preset, imageSize: o.imageSize });
  console.log(`wrote ${o.out}: ${JSON.stringify(r)}`);
}
