"""Alternative: plain Python — lists of floats, max() and sorted() with explicit tie keys, and a
loss written with logsumexp and indexing."""

from __future__ import annotations

import torch


def greedy_decode(step, bos, eos, max_len):
    prefix, total = [bos], 0.0
    while len(prefix) <= max_len:
        row = step([prefix])[0].tolist()
        best = max(range(len(row)), key=lambda v: (row[v], -v))
        prefix.append(best)
        total += row[best]
        if best == eos:
            break
    return prefix[1:], total


def length_penalty(length, alpha):
    return pow((length + 5) / 6, alpha)


def beam_search(step, bos, eos, beam, max_len, alpha=0.0):
    live = [([bos], 0.0)]
    done = []
    for t in range(1, max_len + 1):
        rows = step([prefix for prefix, _ in live]).tolist()
        candidates = [(score + row[v], i, v)
                      for i, ((_, score), row) in enumerate(zip(live, rows))
                      for v in range(len(row))]
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        kept = [(live[i][0] + [v], score) for score, i, v in candidates[: beam - len(done)]]
        live = []
        for prefix, score in kept:
            if prefix[-1] == eos or t == max_len:
                done.append((prefix[1:], score))
            else:
                live.append((prefix, score))
        if not live:
            break
    ranked = [(tokens, score / length_penalty(len(tokens), alpha)) for tokens, score in done]
    order = sorted(range(len(ranked)), key=lambda k: (-ranked[k][1], k))
    return [ranked[k] for k in order]


def teacher_forcing_loss(logits, targets, pad_id):
    B, T, V = logits.shape
    flat = logits.reshape(B * T, V)
    gold = targets.reshape(B * T)
    rows = torch.arange(B * T)[gold != pad_id]
    picked = flat[rows, gold[rows]]
    return (torch.logsumexp(flat[rows], dim=1) - picked).mean()


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
