"""AdaptiveLogSoftmaxWithLoss (Grave et al.): a shortlist head plus clusters of rarer classes (PyTorch's)."""
from collections import namedtuple

import numpy as np

from ...tensor import Tensor
from .. import functional as F
from .module import Module
from .container import Sequential, ModuleList
from .linear import Linear

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


def _idx(rows, like):
    t = Tensor._wrap(np.asarray(rows, dtype=np.int64))
    return t if like.is_cpu else t.to(like.device)


class AdaptiveLogSoftmaxWithLoss(Module):
    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs)) or (min(cutoffs) <= 0) or (max(cutoffs) > (n_classes - 1)) or \
                (len(set(cutoffs)) != len(cutoffs)) or any(int(c) != c for c in cutoffs):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        fk = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, **fk)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, **fk),
                                        Linear(hsz, osz, bias=False, **fk)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.dim() != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                   f"{input_.size()}")
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                   f"{input_.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        is_batched = targ_dim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        target = target_ if is_batched else target_.unsqueeze(0)
        tg = target._data if target.is_cpu else target._data.get()
        tg = np.asarray(tg).astype(np.int64)
        batch_size = tg.shape[0]
        if batch_size and (tg.min() < 0 or tg.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                               f"[{tg.min()}, {tg.max()}] were found. ")
        gather_inds = tg.copy()
        output = None
        cutoff_values = [0] + self.cutoffs
        for i in range(len(cutoff_values) - 1):
            low, high = cutoff_values[i], cutoff_values[i + 1]
            rows = np.nonzero((tg >= low) & (tg < high))[0]
            if rows.size == 0 or i == 0:
                continue
            rel = tg[rows] - low
            sub = input.index_select(0, _idx(rows, input))
            cluster_logprob = F.log_softmax(self.tail[i - 1](sub), dim=1)
            local = cluster_logprob.gather(1, _idx(rel, input).unsqueeze(1)).squeeze(1)
            gather_inds[rows] = self.shortlist_size + i - 1
            base = output if output is not None else input.new_zeros(batch_size)
            output = base.index_add(0, _idx(rows, input), local)
        head_logprob = F.log_softmax(self.head(input), dim=1)
        head_part = head_logprob.gather(1, _idx(gather_inds, input).unsqueeze(1)).squeeze(1)
        output = head_part if output is None else output + head_part
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):
        from ...ops.movement import cat
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return cat(parts, 1)

    def log_prob(self, input):
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):
        return self.log_prob(input).argmax(dim=1)
