"""Alternative: tensors throughout — the beam as a (A, t) tensor of prefixes, candidates chosen
per hypothesis first and merged with a stable sort, a mask-weighted loss with max-shifted
log-softmax."""

from __future__ import annotations

import torch


def greedy_decode(step, bos, eos, max_len):
    tokens = torch.tensor([bos])
    logps = []
    for _ in range(max_len):
        row = step([tokens.tolist()])[0]
        top = row.max()
        nxt = int(torch.nonzero(row == top)[0])
        tokens = torch.cat([tokens, torch.tensor([nxt])])
        logps.append(row[nxt])
        if nxt == eos:
            break
    return tokens[1:].tolist(), float(sum(float(x) for x in logps))


def length_penalty(length, alpha):
    return float(torch.tensor((5.0 + length) / 6.0, dtype=torch.float64) ** alpha)


def beam_search(step, bos, eos, beam, max_len, alpha=0.0):
    prefixes = torch.full((1, 1), bos, dtype=torch.long)  # (A, t)
    scores = torch.zeros(1, dtype=torch.float64)  # (A,)
    finished = []
    for t in range(1, max_len + 1):
        width = beam - len(finished)
        logp = step(prefixes.tolist()).to(torch.float64)  # (A, V)
        V = logp.shape[1]
        total = scores[:, None] + logp  # (A, V)
        # Each hypothesis's best `width` (a stable sort keeps smaller ids first among ties),
        # then the best `width` of those, again stably, in hypothesis-major order.
        per = torch.sort(total, dim=1, descending=True, stable=True)
        ids = per.indices[:, :width]  # (A, width)
        vals = per.values[:, :width]
        owner = torch.arange(total.shape[0])[:, None].expand_as(ids)
        keys = owner * V + ids  # position in the hypothesis-major flattening
        flat_keys, order = torch.sort(keys.reshape(-1))
        flat_vals = vals.reshape(-1)[order]
        pick = torch.sort(flat_vals, descending=True, stable=True).indices[:width]
        chosen = flat_keys[pick]
        rows, toks = chosen // V, chosen % V
        new = torch.cat([prefixes[rows], toks[:, None]], dim=1)
        new_scores = total[rows, toks]
        done = (toks == eos) | (t == max_len)
        for k in torch.nonzero(done).flatten().tolist():
            finished.append((new[k, 1:].tolist(), float(new_scores[k])))
        keep = ~done
        prefixes, scores = new[keep], new_scores[keep]
        if prefixes.shape[0] == 0:
            break
    out = [(tokens, s / ((5.0 + len(tokens)) / 6.0) ** alpha) for tokens, s in finished]
    out.sort(key=lambda h: h[1], reverse=True)  # Python's sort stays stable in reverse
    return out


def teacher_forcing_loss(logits, targets, pad_id):
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    logp = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    onehot = torch.nn.functional.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    mask = (targets != pad_id).to(logits.dtype)
    return -(logp * onehot).sum(dim=-1).mul(mask).sum() / mask.sum()


def make_rnn_step(weights, source):
    w = weights
    h = torch.zeros_like(w["enc_b"])
    for x in source:
        h = torch.tanh(w["src_emb"][x] @ w["enc_W"] + h @ w["enc_U"] + w["enc_b"])

    def step(prefixes):
        rows = []
        for prefix in prefixes:
            s = h
            for y in prefix:
                s = torch.tanh(w["tgt_emb"][y] @ w["dec_W"] + s @ w["dec_U"] + w["dec_b"])
            rows.append(torch.log_softmax(s @ w["out_W"] + w["out_b"], dim=-1))
        return torch.stack(rows)

    return step


def make_table_step(rows, default):
    table = {tuple(prefix): row for prefix, row in rows}

    def step(prefixes):
        return torch.stack([table.get(tuple(p), default) for p in prefixes])

    return step
