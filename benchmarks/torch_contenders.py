"""PyTorch doing the same training step, for the comparison the targets are stated against.

Optional: `make_contenders` returns {} when torch is not installed. Both contenders start from
the baseline's weights and take one SGD step on the same batch:
  torch_eager  the cell in PyTorch ops, step by step, as `engine` is written in tinygrad_rnn
  torch_rnn    torch.nn.RNN (its fused C++ loop) with an embedding and a linear output layer
"""

try:
    import torch
except ImportError:  # the benchmark runs without it, minus these columns
    torch = None


def make_contenders(params, ids, targets, lr, threads):
    if torch is None:
        return {}
    torch.set_num_threads(threads)
    B, T = ids.shape
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ids_t, targets_t = torch.as_tensor(ids), torch.as_tensor(targets)
    rows = torch.arange(B)
    h0 = torch.zeros(B, params["Whh"].shape[0], dtype=p["Whh"].dtype)

    def sgd(tensors):
        with torch.no_grad():
            for t in tensors:
                t -= lr * t.grad
                t.grad = None

    def torch_eager():
        h, loss = h0, 0
        for t in range(T):
            h = torch.tanh(p["Wxh"][ids_t[:, t]] + h @ p["Whh"] + p["bh"])
            logp = torch.log_softmax(h @ p["Why"] + p["by"], dim=-1)
            loss = loss - logp[rows, targets_t[:, t]].sum()
        (loss / (B * T)).backward()
        sgd(p.values())

    V, H = params["Wxh"].shape
    rnn = torch.nn.RNN(V, H, batch_first=True, dtype=p["Whh"].dtype)
    with torch.no_grad():  # the same model: one-hot inputs times W_xh, and one bias of the two
        rnn.weight_ih_l0.copy_(torch.as_tensor(params["Wxh"]).T)
        rnn.weight_hh_l0.copy_(torch.as_tensor(params["Whh"]).T)
        rnn.bias_ih_l0.copy_(torch.as_tensor(params["bh"]))
        rnn.bias_hh_l0.zero_()
    head, head_b = p["Why"].detach().clone().requires_grad_(), p["by"].detach().clone().requires_grad_()
    one_hot = torch.nn.functional.one_hot(ids_t, V).to(p["Whh"].dtype)
    fused = [head, head_b, *rnn.parameters()]

    def torch_rnn():
        out, _ = rnn(one_hot)
        logits = out.reshape(B * T, H) @ head + head_b
        torch.nn.functional.cross_entropy(logits, targets_t.reshape(-1)).backward()
        sgd(fused)

    # the weights in the baseline's names, for the test that checks both train the same model
    torch_eager.weights = lambda: {k: v.detach().numpy() for k, v in p.items()}
    torch_rnn.weights = lambda: {
        "Wxh": rnn.weight_ih_l0.detach().numpy().T, "Whh": rnn.weight_hh_l0.detach().numpy().T,
        "bh": rnn.bias_ih_l0.detach().numpy(),  # bias_hh_l0 gets the same gradient
        "Why": head.detach().numpy(), "by": head_b.detach().numpy()}
    return {"torch_eager": torch_eager, "torch_rnn": torch_rnn}


def version():
    return None if torch is None else torch.__version__
