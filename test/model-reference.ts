// Float64 reference of the whole JudgeModel forward pass and its token-NLL loss, written from the
// definitions (plain loops, no kernels), for the model tests: the model's hidden states and loss are
// checked against it, and its gradients against central finite differences of it.
// Conventions mirrored from the kernels: patch vectors in (dy, dx, c) order scaled to [−1, 1] as
// x/127.5 − 1; RoPE in the 'half' layout (pairs (i, i + D/2), GPT-NeoX / HF Llama) with
// θ_i = base^(−2i/D); SwiGLU silu(g)·u.
import type { JudgeModelConfig } from '../lib/model/config.js';

export type RefParams = Map<string, Float64Array>;

export interface RefBatch {
  B: number;
  T: number;
  ids: Int32Array; // (B, T)
  lengths: Int32Array; // (B)
  pixels: Uint8Array; // (nImg, S, S, C)
  nImages: number;
  imagePositions: Int32Array;
  patchIndex: Int32Array;
  slotIndex: Int32Array;
  targets: Int32Array; // (B, T)
  mask: Float32Array; // (B, T)
}

function get(p: RefParams, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`reference: missing parameter ${name}`);
  return v;
}

/** y (N, out) = x (N, in) Wᵀ with W (out, in). */
function linear(x: Float64Array, N: number, inF: number, W: Float64Array, outF: number): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i]! * W[o * inF + i]!;
      y[n * outF + o] = s;
    }
  return y;
}

function rmsnorm(x: Float64Array, N: number, d: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[n * d + i]! ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[n * d + i] = x[n * d + i]! * r * w[i]!;
  }
  return y;
}

/** In place on (B, S, H, D): position of (b, s) is s. */
function rope(x: Float64Array, B: number, S: number, H: number, D: number, base: number): void {
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < D / 2; i++) {
          const theta = s * Math.pow(base, (-2 * i) / D);
          const c = Math.cos(theta);
          const sn = Math.sin(theta);
          const o = ((b * S + s) * H + h) * D + i;
          const x0 = x[o]!;
          const x1 = x[o + D / 2]!;
          x[o] = x0 * c - x1 * sn;
          x[o + D / 2] = x0 * sn + x1 * c;
        }
}

function attention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  B: number,
  S: number,
  H: number,
  Hkv: number,
  D: number,
  causal: boolean,
  lengths: Int32Array | undefined,
): Float64Array {
  const out = new Float64Array(B * S * H * D);
  const scale = 1 / Math.sqrt(D);
  const sc = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    const L = lengths ? lengths[b]! : S;
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hkv));
      for (let i = 0; i < L; i++) {
        let m = -Infinity;
        const jmax = causal ? i : L - 1;
        for (let j = 0; j <= jmax; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) s += q[((b * S + i) * H + h) * D + e]! * k[((b * S + j) * Hkv + hk) * D + e]!;
          sc[j] = s * scale;
          m = Math.max(m, sc[j]!);
        }
        let z = 0;
        for (let j = 0; j <= jmax; j++) {
          sc[j] = Math.exp(sc[j]! - m);
          z += sc[j]!;
        }
        for (let j = 0; j <= jmax; j++) {
          const p = sc[j]! / z;
          for (let e = 0; e < D; e++) out[((b * S + i) * H + h) * D + e]! += p * v[((b * S + j) * Hkv + hk) * D + e]!;
        }
      }
    }
  }
  return out;
}

function block(
  p: RefParams,
  prefix: string,
  x: Float64Array,
  B: number,
  S: number,
  dim: number,
  H: number,
  Hkv: number,
  dFF: number,
  ropeBase: number,
  eps: number,
  causal: boolean,
  lengths: Int32Array | undefined,
): Float64Array {
  const N = B * S;
  const D = dim / H;
  const a = rmsnorm(x, N, dim, get(p, `${prefix}.attn_norm.weight`), eps);
  const q = linear(a, N, dim, get(p, `${prefix}.attn.wq.weight`), H * D);
  const k = linear(a, N, dim, get(p, `${prefix}.attn.wk.weight`), Hkv * D);
  const v = linear(a, N, dim, get(p, `${prefix}.attn.wv.weight`), Hkv * D);
  if (ropeBase > 0) {
    rope(q, B, S, H, D, ropeBase);
    rope(k, B, S, Hkv, D, ropeBase);
  }
  const o = attention(q, k, v, B, S, H, Hkv, D, causal, lengths);
  const ao = linear(o, N, H * D, get(p, `${prefix}.attn.wo.weight`), dim);
  const h = new Float64Array(N * dim);
  for (let i = 0; i < h.length; i++) h[i] = x[i]! + ao[i]!;
  const m = rmsnorm(h, N, dim, get(p, `${prefix}.mlp_norm.weight`), eps);
  const g = linear(m, N, dim, get(p, `${prefix}.mlp.w_gate.weight`), dFF);
  const u = linear(m, N, dim, get(p, `${prefix}.mlp.w_up.weight`), dFF);
  for (let i = 0; i < g.length; i++) g[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
  const mo = linear(g, N, dFF, get(p, `${prefix}.mlp.w_down.weight`), dim);
  for (let i = 0; i < h.length; i++) h[i]! += mo[i]!;
  return h;
}

/** Final hidden states (B·T, d) in float64. */
export function referenceHidden(c: JudgeModelConfig, p: RefParams, bt: RefBatch): Float64Array {
  const { B, T } = bt;
  const d = c.dModel;
  const S = c.imageSize;
  const ps = c.patchSize;
  const C = c.channels;
  const g = S / ps;
  const P = g * g;
  const K = c.patchWindow ?? ps; // window read by each patch, centred on it; 0 outside the image
  const pad = (K - ps) / 2;
  const pd = K * K * C;
  const nI = bt.nImages;
  // patchify
  const patches = new Float64Array(nI * P * pd);
  for (let im = 0; im < nI; im++)
    for (let py = 0; py < g; py++)
      for (let px = 0; px < g; px++)
        for (let dy = 0; dy < K; dy++)
          for (let dx = 0; dx < K; dx++)
            for (let ch = 0; ch < C; ch++) {
              const y = py * ps - pad + dy;
              const x = px * ps - pad + dx;
              if (y < 0 || y >= S || x < 0 || x >= S) continue;
              const pix = bt.pixels[((im * S + y) * S + x) * C + ch]!;
              patches[(im * P + py * g + px) * pd + (dy * K + dx) * C + ch] = pix / 127.5 - 1;
            }
  const vw = c.visionLayers > 0 ? c.visionDim : d;
  let f: Float64Array = linear(patches, nI * P, pd, get(p, 'vision.patch_proj.weight'), vw);
  const pos = get(p, 'vision.pos_embed');
  for (let r = 0; r < nI * P; r++) for (let i = 0; i < vw; i++) f[r * vw + i]! += pos[bt.patchIndex[r]! * vw + i]!;
  if (c.visionLayers > 0) {
    for (let l = 0; l < c.visionLayers; l++)
      f = block(p, `vision.layers.${l}`, f, nI, P, vw, c.visionHeads, c.visionHeads, c.visionFF, 0, c.normEps, false, undefined);
    f = rmsnorm(f, nI * P, vw, get(p, 'vision.norm.weight'), c.normEps);
    f = linear(f, nI * P, vw, get(p, 'vision.projector.weight'), d);
  }
  const slot = get(p, 'vision.slot_embed');
  for (let r = 0; r < nI * P; r++) for (let i = 0; i < d; i++) f[r * d + i]! += slot[bt.slotIndex[r]! * d + i]!;
  const E = get(p, 'embed.weight');
  let x: Float64Array = new Float64Array(B * T * d);
  for (let r = 0; r < B * T; r++) for (let i = 0; i < d; i++) x[r * d + i] = E[bt.ids[r]! * d + i]!;
  for (let r = 0; r < nI * P; r++) for (let i = 0; i < d; i++) x[bt.imagePositions[r]! * d + i]! += f[r * d + i]!;
  for (let l = 0; l < c.nLayers; l++)
    x = block(p, `layers.${l}`, x, B, T, d, c.nHeads, c.nKvHeads, c.dFF, c.ropeBase, c.normEps, true, bt.lengths);
  return rmsnorm(x, B * T, d, get(p, 'norm.weight'), c.normEps);
}

/** Mean token NLL over the mask (the model's nll loss) in float64. */
export function referenceNll(c: JudgeModelConfig, p: RefParams, bt: RefBatch): number {
  const h = referenceHidden(c, p, bt);
  const W = get(p, c.tieEmbeddings ? 'embed.weight' : 'lm_head.weight');
  const d = c.dModel;
  const V = c.vocabSize;
  let loss = 0;
  let n = 0;
  for (let r = 0; r < bt.B * bt.T; r++) {
    const m = bt.mask[r]!;
    if (m === 0) continue;
    let mx = -Infinity;
    const z = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += h[r * d + i]! * W[v * d + i]!;
      z[v] = s;
      mx = Math.max(mx, s);
    }
    let se = 0;
    for (let v = 0; v < V; v++) se += Math.exp(z[v]! - mx);
    loss += m * (mx + Math.log(se) - z[bt.targets[r]!]!);
    n += m;
  }
  return loss / n;
}
