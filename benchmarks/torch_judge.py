# A PyTorch implementation of the judge model (the baseline a user would write: nn.Module, autograd,
# torch.optim.AdamW, a KV cache for generation), loading OUR safetensors weights and OUR packed batch
# so its loss can be checked against ours before anything is timed. Used by benchmarks/model-torch.ts;
# the same architecture as test/model-reference.ts (the float64 spec of lib/model): patchify ->
# Linear + pos_embed [-> vision blocks, RMSNorm, projector] + slot_embed added onto the <image>
# token positions of the token embedding; nLayers pre-norm blocks (RMSNorm, GQA attention with RoPE in
# the half layout, causal, right padding masked by lengths; RMSNorm, SwiGLU); final RMSNorm; logits
# against the tied embedding (or lm_head); mean token NLL over the loss mask.
#
# Usage: python3 torch_judge.py CONFIG.json WEIGHTS.safetensors BATCH.safetensors MODE THREADS CLOCK [gen args]
#   MODE: loss | train | generate   (prints one JSON line)
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DT = {'F32': torch.float32, 'I32': torch.int32, 'U8': torch.uint8, 'BF16': torch.bfloat16}


def read_safetensors(path):
    with open(path, 'rb') as f:
        buf = f.read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n])
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, spec in header.items():
        if name == '__metadata__':
            continue
        a, b = spec['data_offsets']
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DT[spec['dtype']]) if b > a else torch.zeros(0, dtype=DT[spec['dtype']])
        out[name] = t.reshape(spec['shape'])
    return out


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(max_len, D, base):
    inv = base ** (-torch.arange(0, D // 2, dtype=torch.float64) * 2 / D)
    ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x (B, S, H, D), half layout: (x0, x1) = (x[:D/2], x[D/2:]); cos/sin (S, D/2) or (B, 1, D/2) per row
    h = x.shape[-1] // 2
    x0, x1 = x[..., :h], x[..., h:]
    c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)
    return torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)


class Attention(nn.Module):
    def __init__(self, d, H, Hkv, rope_base):
        super().__init__()
        self.H, self.Hkv, self.D = H, Hkv, d // H
        self.wq = nn.Linear(d, H * self.D, bias=False)
        self.wk = nn.Linear(d, Hkv * self.D, bias=False)
        self.wv = nn.Linear(d, Hkv * self.D, bias=False)
        self.wo = nn.Linear(H * self.D, d, bias=False)
        self.rope_base = rope_base

    def forward(self, x, mask, rope):
        B, S, _ = x.shape
        q = self.wq(x).view(B, S, self.H, self.D)
        k = self.wk(x).view(B, S, self.Hkv, self.D)
        v = self.wv(x).view(B, S, self.Hkv, self.D)
        if self.rope_base > 0:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        g = self.H // self.Hkv
        # GQA without copying K/V: queries grouped per KV head (B, Hkv, g*S, D).
        qg = q.view(B, S, self.Hkv, g, self.D).permute(0, 2, 3, 1, 4).reshape(B, self.Hkv, g * S, self.D)
        kt = k.permute(0, 2, 3, 1)  # (B, Hkv, D, S)
        sc = torch.matmul(qg, kt) * (1.0 / math.sqrt(self.D))  # (B, Hkv, g*S, S)
        sc = sc.view(B, self.Hkv, g, S, S) + mask[:, None, None]
        p = torch.softmax(sc, dim=-1).view(B, self.Hkv, g * S, S)
        o = torch.matmul(p, v.permute(0, 2, 1, 3))  # (B, Hkv, g*S, D)
        o = o.view(B, self.Hkv, g, S, self.D).permute(0, 3, 1, 2, 4).reshape(B, S, self.H * self.D)
        return self.wo(o), k, v

    def decode(self, x, cache_k, cache_v, pos, cos, sin):
        # x (B, 1, d); cache (B, Hkv, cap, D); every row at the same position `pos` here
        B = x.shape[0]
        q = self.wq(x).view(B, 1, self.H, self.D)
        k = self.wk(x).view(B, 1, self.Hkv, self.D)
        v = self.wv(x).view(B, 1, self.Hkv, self.D)
        if self.rope_base > 0:
            q, k = apply_rope(q, cos[pos:pos + 1], sin[pos:pos + 1]), apply_rope(k, cos[pos:pos + 1], sin[pos:pos + 1])
        cache_k[:, :, pos] = k[:, 0]
        cache_v[:, :, pos] = v[:, 0]
        g = self.H // self.Hkv
        qg = q.view(B, self.Hkv, g, self.D)
        sc = torch.matmul(qg, cache_k[:, :, :pos + 1].transpose(-1, -2)) * (1.0 / math.sqrt(self.D))
        o = torch.matmul(torch.softmax(sc, dim=-1), cache_v[:, :, :pos + 1])  # (B, Hkv, g, D)
        return self.wo(o.reshape(B, 1, self.H * self.D))


class Block(nn.Module):
    def __init__(self, d, H, Hkv, dff, rope_base, eps):
        super().__init__()
        self.attn_norm = RMSNorm(d, eps)
        self.attn = Attention(d, H, Hkv, rope_base)
        self.mlp_norm = RMSNorm(d, eps)
        self.w_gate = nn.Linear(d, dff, bias=False)
        self.w_up = nn.Linear(d, dff, bias=False)
        self.w_down = nn.Linear(dff, d, bias=False)

    def mlp(self, x):
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))

    def forward(self, x, mask, rope):
        a, k, v = self.attn(self.attn_norm(x), mask, rope)
        h = x + a
        return h + self.mlp(self.mlp_norm(h)), k, v

    def decode(self, x, ck, cv, pos, cos, sin):
        h = x + self.attn.decode(self.attn_norm(x), ck, cv, pos, cos, sin)
        return h + self.mlp(self.mlp_norm(h))


class Judge(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d = c['dModel']
        vw = c['visionDim'] if c['visionLayers'] > 0 else d
        P = (c['imageSize'] // c['patchSize']) ** 2
        pd = c['patchSize'] ** 2 * c['channels']
        self.embed = nn.Embedding(c['vocabSize'], d)
        self.patch_proj = nn.Linear(pd, vw, bias=False)
        self.pos_embed = nn.Parameter(torch.zeros(P, vw))
        self.slot_embed = nn.Parameter(torch.zeros(c['maxImages'], d))
        self.vblocks = nn.ModuleList(
            [Block(vw, c['visionHeads'], c['visionHeads'], c['visionFF'], 0, c['normEps']) for _ in range(c['visionLayers'])])
        if c['visionLayers'] > 0:
            self.vnorm = RMSNorm(vw, c['normEps'])
            self.projector = nn.Linear(vw, d, bias=False)
        self.layers = nn.ModuleList(
            [Block(d, c['nHeads'], c['nKvHeads'], c['dFF'], c['ropeBase'], c['normEps']) for _ in range(c['nLayers'])])
        self.norm = RMSNorm(d, c['normEps'])
        self.lm_head = None if c['tieEmbeddings'] else nn.Linear(d, c['vocabSize'], bias=False)
        cos, sin = rope_tables(c['maxSeqLen'], d // c['nHeads'], c['ropeBase'])
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)

    def load_ours(self, w):
        m = {'embed.weight': self.embed.weight, 'vision.patch_proj.weight': self.patch_proj.weight,
             'vision.pos_embed': self.pos_embed, 'vision.slot_embed': self.slot_embed, 'norm.weight': self.norm.weight}
        if self.lm_head is not None:
            m['lm_head.weight'] = self.lm_head.weight
        if self.c['visionLayers'] > 0:
            m['vision.norm.weight'] = self.vnorm.weight
            m['vision.projector.weight'] = self.projector.weight
        for prefix, blocks in (('layers', self.layers), ('vision.layers', self.vblocks)):
            for i, b in enumerate(blocks):
                for ours, p in (('attn_norm.weight', b.attn_norm.weight), ('attn.wq.weight', b.attn.wq.weight),
                                ('attn.wk.weight', b.attn.wk.weight), ('attn.wv.weight', b.attn.wv.weight),
                                ('attn.wo.weight', b.attn.wo.weight), ('mlp_norm.weight', b.mlp_norm.weight),
                                ('mlp.w_gate.weight', b.w_gate.weight), ('mlp.w_up.weight', b.w_up.weight),
                                ('mlp.w_down.weight', b.w_down.weight)):
                    m[f'{prefix}.{i}.{ours}'] = p
        with torch.no_grad():
            for name, p in m.items():
                p.copy_(w[name].reshape(p.shape))
        assert len(m) == len(w), f'parameter count: ours {len(w)}, torch {len(m)}'

    def head_weight(self):
        return self.embed.weight if self.lm_head is None else self.lm_head.weight

    def image_features(self, pixels, patch_index, slot_index):
        c = self.c
        n, S, ps, C = pixels.shape[0], c['imageSize'], c['patchSize'], c['channels']
        g = S // ps
        x = pixels.to(self.pos_embed.dtype).div(127.5).sub(1.0).view(n, g, ps, g, ps, C).permute(0, 1, 3, 2, 4, 5).reshape(n * g * g, ps * ps * C)
        f = self.patch_proj(x) + self.pos_embed[patch_index.long()]
        if c['visionLayers'] > 0:
            f = f.view(n, g * g, -1)
            zero = torch.zeros(n, g * g, g * g, dtype=f.dtype)
            for b in self.vblocks:
                f = b(f, zero, None)[0]
            f = self.projector(self.vnorm(f)).reshape(n * g * g, -1)
        return f + self.slot_embed[slot_index.long()]

    def hidden(self, bt, keep_kv=False):
        B, T = bt['ids'].shape
        x = self.embed(bt['ids'].long()).reshape(B * T, -1)
        f = self.image_features(bt['pixels'], bt['patchIndex'], bt['slotIndex'])
        x = x.index_add(0, bt['imagePositions'].long(), f).view(B, T, -1)
        # causal + right padding (keys at >= length masked; padded queries see their valid prefix)
        t = torch.arange(T)
        allowed = (t[None, :] <= t[:, None])[None] & (t[None, None, :] < bt['seqLengths'].long()[:, None, None])
        mask = torch.zeros(B, T, T).masked_fill(~allowed, float('-inf'))
        rope = (self.cos[:T], self.sin[:T])
        kvs = []
        for b in self.layers:
            x, k, v = b(x, mask, rope)
            kvs.append((k, v))
        h = self.norm(x)
        return (h, kvs) if keep_kv else h

    def nll(self, bt):
        h = self.hidden(bt)
        logits = h.reshape(-1, h.shape[-1]) @ self.head_weight().t()
        m = bt['lossMask'].reshape(-1)
        ce = F.cross_entropy(logits, bt['targets'].reshape(-1).long(), reduction='none')
        return (ce * m).sum() / m.sum()

    @torch.no_grad()
    def generate(self, bt, G, max_new, temperature, seed):
        # Prefill the prompts once, copy each prompt's cache to its G rows, then decode max_new tokens
        # for every row (multinomial sampling over softmax(logits / T)); prompts here have equal lengths.
        torch.manual_seed(seed)
        h, kvs = self.hidden(bt, keep_kv=True)
        Bp, T = bt['ids'].shape
        L = int(bt['seqLengths'][0])
        cap = T + max_new
        W = self.head_weight()
        caches = []
        for k, v in kvs:
            ck = torch.zeros(Bp * G, self.c['nKvHeads'], cap, k.shape[-1])
            cv = torch.zeros_like(ck)
            ck[:, :, :T] = k.permute(0, 2, 1, 3).repeat_interleave(G, 0)
            cv[:, :, :T] = v.permute(0, 2, 1, 3).repeat_interleave(G, 0)
            caches.append((ck, cv))
        logits = (h[:, L - 1] @ W.t()).repeat_interleave(G, 0)
        out = []
        for s in range(max_new):
            tok = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1)
            out.append(tok)
            if s == max_new - 1:
                break
            x = self.embed(tok)
            for b, (ck, cv) in zip(self.layers, caches):
                x = b.decode(x, ck, cv, L + s, self.cos, self.sin)
            logits = self.norm(x)[:, 0] @ W.t()
        return torch.cat(out, 1)


def bench(fn, clock, warmup=1, min_reps=3, budget_ms=4000, max_reps=50):
    for _ in range(warmup):
        fn()
    s = []
    spent = 0.0
    while len(s) < min_reps or (spent < budget_ms and len(s) < max_reps):
        t0 = clock()
        fn()
        ms = (clock() - t0) * 1e3
        s.append(ms)
        spent += ms
    s.sort()
    q = lambda p: s[int(round((len(s) - 1) * p))]
    return {'p50': q(0.5), 'p20': q(0.2), 'p80': q(0.8), 'samples': len(s)}


def main():
    cfg_path, w_path, b_path, mode, threads, clock_name = sys.argv[1:7]
    extra = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
    torch.set_num_threads(int(threads))
    clock = time.process_time if clock_name == 'cpu' else time.perf_counter
    with open(cfg_path) as f:
        c = json.load(f)
    model = Judge(c)
    model.load_ours(read_safetensors(w_path))
    bt = read_safetensors(b_path)
    res = {}
    if mode == 'loss':
        with torch.no_grad():
            res['loss'] = float(model.nll(bt))
        # the same loss in float64 (how far float32 torch is from exact)
        m64 = Judge(c).double()
        m64.load_ours({k: v.double() for k, v in read_safetensors(w_path).items()})
        m64.cos, m64.sin = [t.double() for t in rope_tables(c['maxSeqLen'], c['dModel'] // c['nHeads'], c['ropeBase'])]
        bt64 = dict(bt, lossMask=bt['lossMask'].double())
        torch.set_default_dtype(torch.float64)
        with torch.no_grad():
            res['loss_f64'] = float(m64.nll(bt64))
        torch.set_default_dtype(torch.float32)
    elif mode == 'train':
        opt = torch.optim.AdamW(model.parameters(), lr=extra.get('lr', 1e-4), weight_decay=extra.get('weightDecay', 0.0))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = model.nll(bt)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        res['timing'] = bench(step, clock, budget_ms=extra.get('budgetMs', 8000))
    elif mode == 'generate':
        res['timing'] = bench(lambda: model.generate(bt, extra['G'], extra['maxNew'], extra.get('temperature', 1.0), 3), clock,
                              budget_ms=extra.get('budgetMs', 6000))
    print(json.dumps(res))


if __name__ == '__main__':
    main()
