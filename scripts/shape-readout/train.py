# How fast can the judge's image front end learn to read shapes? A supervised diagnostic (optional,
# PyTorch): a 2-layer bidirectional transformer over 64 patch tokens of a 32×32 scene, read out by
# nine region queries that predict each region's shape and colour (or "empty"). It compares plain
# 4×4 patches (window 4) with 8×8 windows centred on the same patches (window 8, the model's
# patchWindow). Prints test accuracy on occupied regions every 500 steps.
# Usage: python3 scripts/shape-readout/train.py WINDOW STEPS DATA_PREFIX TEST_PREFIX   (one thread)
import sys, time
import numpy as np, torch, torch.nn as nn

window, steps, train_p, test_p = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(1)
torch.manual_seed(0)
D = 128

def load(p):
    y = np.fromfile(p + '.lab', np.uint8).reshape(-1, 9, 2)
    x = np.fromfile(p + '.img', np.uint8).reshape(len(y), 32, 32, 3)
    return torch.tensor(x).float().div(127.5).sub(1).permute(0, 3, 1, 2), torch.tensor(y).long()

class FrontEnd(nn.Module):
    def __init__(self):
        super().__init__()
        # A K×K window with stride 4, zero-padded by (K−4)/2: exactly patchEmbed(patchSize 4, patchWindow K) + a linear map.
        self.embed = nn.Conv2d(3, D, window, 4, (window - 4) // 2)
        self.pos = nn.Parameter(torch.randn(64, D) * 0.02)
        layer = nn.TransformerEncoderLayer(D, 4, 256, 0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.queries = nn.Parameter(torch.randn(9, D) * 0.02)
        self.read = nn.MultiheadAttention(D, 4, batch_first=True)
        self.head = nn.Linear(D, 7 + 9)

    def forward(self, x):
        h = self.encoder(self.embed(x).flatten(2).transpose(1, 2) + self.pos)
        o, _ = self.read(self.queries.expand(x.shape[0], -1, -1), h, h)
        return self.head(o)

xtr, ytr = load(train_p)
xte, yte = load(test_p)
m = FrontEnd()
opt = torch.optim.AdamW(m.parameters(), 1e-3)
t0 = time.time()
ce = nn.functional.cross_entropy
for step in range(1, steps + 1):
    i = torch.randint(0, len(ytr), (32,))
    out, y = m(xtr[i]), ytr[i]
    loss = ce(out[..., :7].reshape(-1, 7), y[..., 0].reshape(-1)) + ce(out[..., 7:].reshape(-1, 9), y[..., 1].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 500 == 0:
        with torch.no_grad():
            o = m(xte)
            occ = yte[..., 0] > 0
            shape = (o[..., :7].argmax(-1) == yte[..., 0])[occ].float().mean().item()
            colour = (o[..., 7:].argmax(-1) == yte[..., 1])[occ].float().mean().item()
        print(f'window {window} step {step}: shape {100 * shape:.1f} %  colour {100 * colour:.1f} %  ({time.time() - t0:.0f} s)', flush=True)
